package write

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/signing"
)

// checkTrustChanges refuses delivery.yaml when the newest change to who
// may approve and which keys prove them (approvers, releaseManagers,
// signers), to an existing environment's gates (approval, signedApprovals,
// approvalMaxAge, requireOIDC, githubEnvironment, allowSkip), to
// trustedWorkflows, or to an existing service's image repository or GitHub
// repository, made after signing was turned on, is not vouched for:
// signed by the key of a release manager of the last trusted version
// before it. Otherwise whoever can push to smp-gitops could list their own
// key for alice and sign approvals in her name, or simply turn signing (or
// the approval) off. It runs for every gated write, whatever the
// environment's settings at the head say, since those are in question.
//
// Trust is a chain. Only commits that changed delivery.yaml are read (git
// log -- delivery.yaml), newest first, back to the one that turned signing
// on, or delivery.yaml's first version: that one is trusted as the review
// of smp-gitops let it through. Then, oldest first, each change of the
// lists is trusted when a release manager of the last trusted version
// signed it. Judging a change only against the version just before it is
// not enough: an unsigned commit could list mallory as a release manager
// and a later one signed by mallory would pass. A change that is not
// trusted stays so until a later one, signed by a release manager of the
// last trusted version, vouches for the lists as they then are. A version
// that does not parse (or a deletion) gated nothing: the change is judged
// between the parseable ones around it.
//
// Most versions changed something else (a freeze, a service), so each is
// first decoded for the trust lists alone (trustView: one YAML pass);
// delivery.Parse, which decodes the file three times and validates it,
// runs only where the lists differ or signing is off, and on the run of
// equal versions before it to find the one the change is judged from
// (BenchmarkTrustChangesWalk, bench/gitops/trust.sh).
func checkTrustChanges(ctx context.Context, t *gitops.Tree) error {
	// Signing never written: nothing was ever trusted by signature, and
	// review is the whole story (one git process, not a walk).
	if ever, err := t.Mentions(ctx, delivery.FileName, "signedApprovals"); err != nil || !ever {
		return err
	}
	var (
		// changes are the versions that changed the lists, newest first.
		changes []*trustVersion
		// anchor is the version trusted as reviewed: the one that turned
		// signing on, or the first.
		anchor *trustVersion
		// run is the versions since the last change whose trust lists
		// decode equal and with signing on, newest first: the change, if
		// one comes, is the oldest of them that parses.
		run []*trustVersion
	)
	err := t.Log(ctx, delivery.FileName, func(rev gitops.Revision) (bool, error) {
		b, err := t.Show(ctx, rev.Hash, delivery.FileName)
		if err != nil {
			return false, nil //nolint:nilerr // a deletion gated nothing
		}
		cur := &trustVersion{rev: rev, b: b}
		if cur.view = decodeTrust(b); cur.view == nil {
			return false, nil // does not parse: delivery.Parse would refuse it too
		}
		if len(run) > 0 && cur.view.signingOn() && run[0].view.same(cur.view) {
			run = append(run, cur)
			return false, nil
		}
		cfg := cur.config()
		if cfg == nil {
			return false, nil // the lists decode but the file does not parse
		}
		newer := oldestParsed(run)
		switch {
		case newer == nil:
		case !signingOn(cfg) && signingOn(newer.config()):
			anchor = newer // newer turned signing on: its trust is the review of smp-gitops
			return true, nil
		case !sameTrust(newer.cfg, cfg):
			changes = append(changes, newer)
		}
		run = []*trustVersion{cur}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("check changes to %s: %w", delivery.FileName, err)
	}
	if anchor == nil {
		anchor = oldestParsed(run)
	}
	if anchor == nil || len(changes) == 0 {
		return nil
	}
	trusted := anchor
	for i := len(changes) - 1; i >= 0; i-- {
		if !signingOn(trusted.config()) {
			// A trusted change turned signing off (or it was never on):
			// what follows is review's, until a change turns it on again
			// (the walk stops there, at a newer anchor).
			trusted = changes[i]
			continue
		}
		err := verifyTrustChange(t, changes[i].rev, trusted)
		switch {
		case err == nil:
			trusted = changes[i]
		case i == 0:
			return err
		}
	}
	return nil
}

// trustVersion is one version of delivery.yaml in checkTrustChanges' walk.
type trustVersion struct {
	rev    gitops.Revision
	b      []byte
	view   *trustView
	cfg    *delivery.Config
	parsed bool
}

// config is the version parsed in full (delivery.Parse), once; nil when it
// does not parse.
func (v *trustVersion) config() *delivery.Config {
	if !v.parsed {
		v.cfg, v.parsed = parseConfig(v.b), true
	}
	return v.cfg
}

// oldestParsed is the oldest version of run that parses in full: the
// version a change found below run is judged from, as if the ones that do
// not parse were not there.
func oldestParsed(run []*trustVersion) *trustVersion {
	for i := len(run) - 1; i >= 0; i-- {
		if run[i].config() != nil {
			return run[i]
		}
	}
	return nil
}

// trustView is what checkTrustChanges compares between versions of
// delivery.yaml, decoded alone: the fields sameTrust and signingOn read.
// A file delivery.Parse accepts decodes to the same values here (no
// defaults apply to them; environments left out mean the seed's, none of
// which signs); a file this cannot decode, delivery.Parse refuses too.
type trustView struct {
	Environments    []gateView        `yaml:"environments"`
	Approvers       []string          `yaml:"approvers"`
	ReleaseManagers []string          `yaml:"releaseManagers"`
	Signers         []delivery.Signer `yaml:"signers"`
	Services        []struct {
		Name       string `yaml:"name"`
		Image      string `yaml:"image"`
		Repository string `yaml:"repository"`
	} `yaml:"services"`
	TrustedWorkflows []string `yaml:"trustedWorkflows"`
}

// gateView is an environment's gates as written: what an unsigned commit
// could otherwise loosen instead of touching the lists (approval: none,
// signedApprovals: false, no approvalMaxAge, no requireOIDC, allowSkip).
type gateView struct {
	Name            string `yaml:"name"`
	Approval        string `yaml:"approval"`
	SignedApprovals bool   `yaml:"signedApprovals"`
	ApprovalMaxAge  string `yaml:"approvalMaxAge"`
	RequireOIDC     bool   `yaml:"requireOIDC"`
	AllowSkip       bool   `yaml:"allowSkip"`
	// GitHubEnvironment binds a proven run to the environment it writes.
	GitHubEnvironment string `yaml:"githubEnvironment"`
}

// decodeTrust decodes the trust lists of b; nil when b does not decode.
func decodeTrust(b []byte) *trustView {
	var v trustView
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil
	}
	return &v
}

func (v *trustView) signingOn() bool {
	return slices.ContainsFunc(v.Environments, func(e gateView) bool { return e.SignedApprovals })
}

// same is sameTrust on the decoded file: equal here means equal parsed
// (the same text parses the same), so the walk may skip delivery.Parse.
func (v *trustView) same(o *trustView) bool {
	if !slices.Equal(v.Approvers, o.Approvers) || !slices.Equal(v.ReleaseManagers, o.ReleaseManagers) ||
		!slices.EqualFunc(v.Signers, o.Signers, func(x, y delivery.Signer) bool { return x.Login == y.Login && slices.Equal(x.Keys, y.Keys) }) ||
		!slices.Equal(v.Environments, o.Environments) || len(v.Services) != len(o.Services) ||
		!slices.Equal(v.TrustedWorkflows, o.TrustedWorkflows) {
		return false
	}
	for i := range v.Services {
		if v.Services[i] != o.Services[i] {
			return false
		}
	}
	return true
}

// parseConfig is delivery.yaml parsed in full; nil when it does not parse.
func parseConfig(b []byte) *delivery.Config {
	c, err := delivery.Parse(b)
	if err != nil {
		return nil
	}
	return c
}

func signingOn(c *delivery.Config) bool {
	return slices.ContainsFunc(c.Environments, func(e delivery.Environment) bool { return e.SignedApprovals })
}

// sameTrust says whether a and b name the same approvers, release
// managers and keys, give every environment they share the same gates, and
// every service they share the same image repository. An environment or a
// service added or removed is not a change of trust: a new one starts
// with nothing deployed, and a removed one takes no more writes.
func sameTrust(a, b *delivery.Config) bool {
	if !slices.Equal(a.Approvers, b.Approvers) || !slices.Equal(a.ReleaseManagers, b.ReleaseManagers) ||
		!slices.EqualFunc(a.Signers, b.Signers, func(x, y delivery.Signer) bool { return x.Login == y.Login && slices.Equal(x.Keys, y.Keys) }) ||
		!slices.Equal(a.Workflows(), b.Workflows()) {
		return false
	}
	for _, x := range a.Environments {
		if y, _, ok := b.Env(x.Name); ok && (x.Approval != y.Approval || x.SignedApprovals != y.SignedApprovals ||
			x.ApprovalMaxAge != y.ApprovalMaxAge || x.RequireOIDC != y.RequireOIDC || x.AllowSkip != y.AllowSkip ||
			x.GitHubEnv() != y.GitHubEnv()) {
			return false
		}
	}
	for _, x := range a.Services {
		if y, ok := b.Service(x.Name); ok && (x.Image != y.Image || x.Repository != y.Repository) {
			return false
		}
	}
	return true
}

// verifyTrustChange checks that rev, a change to the trust lists, is
// signed by the key trusted lists for one of their release managers.
func verifyTrustChange(t *gitops.Tree, rev gitops.Revision, trusted *trustVersion) error {
	before := trusted.config()
	what := fmt.Sprintf("commit %.12s (%q) changes who may approve, which keys prove them, an environment's gates or a service's image repository in %s", rev.Hash, rev.Subject, delivery.FileName)
	fix := fmt.Sprintf("a release manager listed before that change (%v, as of commit %.12s, the last trusted change) must make it again, signed with their key (git commit -S with gpg.format=ssh), or revert it",
		before.ReleaseManagers, trusted.rev.Hash)
	raw, err := t.CommitObject(rev.Hash)
	if err != nil {
		return err
	}
	payload, sig := signing.SplitCommit(raw, t.SHA256())
	if sig == nil {
		return fault.Refusedf("%s and is not signed; where approvals must be signed, such a change counts only when a release manager signs it: %s", what, fix)
	}
	var keys []ssh.PublicKey
	for _, rm := range before.ReleaseManagers {
		keys = append(keys, before.SignerKeys(rm)...)
	}
	if _, err := signing.Verify(payload, sig, keys); err != nil {
		return fault.Refusedf("%s and is not signed by a release manager's key (%v); such a change counts only when a release manager signs it: %s", what, err, fix)
	}
	return nil
}
