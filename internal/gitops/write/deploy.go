// Package write makes every write to the GitOps repository: deploy,
// promote, approve, rollback, hold and release, and freeze changes. Each is
// a gitops.Change — a function of the tree it is given — so a rejected push
// re-runs every check (freeze, hold, approval, out-of-order guard) against
// the new head before committing again: a decision is never made on a stale
// view of the repository.
//
// The repository layout and the commit format are docs/gitops-format.md's:
// environments/<env>/<svc>.yaml, state/holds/<env>/<svc>.yaml,
// state/approvals/<env>/<svc>/<version>.yaml, and one commit per change
// with the trailers Action, Environment, Service, Image, Image-Digest,
// Previous-Digest, Source-Commit, Source-Time, Promoted-From, Deployed-By,
// Approved-By, Pipeline-Run and Override-Freeze.
//
// Errors carry their kind (package fault): bad input is fault.ErrInvalid, a
// gate that refused (freeze, hold, approval, out-of-order, a remote's
// refusal) fault.ErrRefused; a change that changes nothing is not an error
// (Outcome.AlreadyDone).
package write

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/envfile"
	"github.com/smp/delivery/internal/gitops/freeze"
	"github.com/smp/delivery/internal/gitops/statefile"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/untrusted"
)

// Paths in the GitOps repository.
func envPath(env, svc string) string { return "environments/" + env + "/" + svc + ".yaml" }
func holdPath(env, svc string) string {
	return "state/holds/" + env + "/" + svc + ".yaml"
}
func approvalPath(env, svc, version string) string {
	return "state/approvals/" + env + "/" + svc + "/" + version + ".yaml"
}

// Hold is state/holds/<env>/<svc>.yaml (package statefile owns the type).
type Hold = statefile.Hold

// Approval is state/approvals/<env>/<svc>/<version>.yaml.
type Approval = statefile.Approval

// Outcome is what a write did, for the CLI to print or encode.
type Outcome struct {
	Action      string        `json:"action"`
	Environment string        `json:"environment,omitempty"`
	Service     string        `json:"service,omitempty"`
	Image       *imageref.Ref `json:"image,omitempty"`
	Previous    string        `json:"previousDigest,omitempty"`
	PreviousTag string        `json:"previousTag,omitempty"`
	Commit      string        `json:"commit,omitempty"`
	// ApprovedBy is the Approved-By trailer of the commit this write
	// made: who approved the version into a gated environment (or whom
	// --approved-by named in an ungated one). Notifications say it.
	ApprovedBy   string `json:"approvedBy,omitempty"`
	Attempts     int    `json:"attempts,omitempty"`
	AlreadyDone  bool   `json:"alreadyDone"`
	Message      string `json:"message"`
	FreezeBroken string `json:"overrideFreeze,omitempty"`
	// Config is delivery.yaml as the commit this write made has it (nil
	// when nothing was committed): what acts on the write next (its
	// notifications, the queue it drains) reads it here rather than
	// fetching the remote again.
	Config *delivery.Config `json:"-"`
}

// Common are the fields every write shares.
type Common struct {
	// By names who acts (Deployed-By, the hold's by, the approver).
	By string
	// Run is the pipeline run URL (Pipeline-Run).
	Run string
	// Identity, when set, overrides delivery.yaml's commit identity.
	Identity gitops.Identity
	// Now is the clock.
	Now time.Time
	// Proven is what the run's verified OIDC token says of the run Run
	// names (smpctl --oidc), nil when it was not proven: what an
	// environment with requireOIDC asks of a write that records a CI run,
	// and binds to the write (checkRunBound).
	Proven *ProvenRun
	// ChangeID, when set, makes the write idempotent across re-runs: a
	// change with this id already on the branch is not made again
	// (Outcome.AlreadyDone). Empty makes one up for this write only.
	ChangeID string
}

func (c Common) identity(cfg *delivery.Config) gitops.Identity {
	if c.Identity.Name != "" && c.Identity.Email != "" {
		return c.Identity
	}
	return gitops.Identity{Name: cfg.Identity.Name, Email: cfg.Identity.Email}
}

// checkNames validates environment and service names before anything
// leaves the process.
func checkNames(env, svc string) error {
	var errs []error
	if err := delivery.CheckName("environment", env); err != nil {
		errs = append(errs, fault.Inputf("Env", "%w", err))
	}
	if err := delivery.CheckName("service", svc); err != nil {
		errs = append(errs, fault.Inputf("Service", "%w", err))
	}
	return fault.Invalid(errors.Join(errs...))
}

// loadConfig reads delivery.yaml from the tree for a change: a repository
// of a newer format than this smpctl writes is refused (exit 2, nothing
// written).
func loadConfig(t *gitops.Tree) (*delivery.Config, error) {
	cfg, err := readConfig(t)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckWritable(); err != nil {
		return nil, fault.Invalidf("the GitOps repository's %w", err)
	}
	return cfg, nil
}

// readConfig reads delivery.yaml from the tree, of any format version this
// smpctl can read.
func readConfig(t *gitops.Tree) (*delivery.Config, error) {
	b, err := t.ReadFile(delivery.FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fault.Invalidf("the GitOps repository has no %s at its root: run `smpctl gitops init`, or give the smp-gitops repository", delivery.FileName)
	}
	if err != nil {
		return nil, err
	}
	cfg, err := delivery.Parse(b)
	if err != nil {
		return nil, fault.Invalidf("%s in the GitOps repository: %w; fix it there", delivery.FileName, err)
	}
	return cfg, nil
}

func knownEnv(cfg *delivery.Config, env string) (delivery.Environment, int, error) {
	e, i, ok := cfg.Env(env)
	if !ok {
		return e, i, fault.Invalidf("unknown environment %q: %s lists %s", env, delivery.FileName, strings.Join(cfg.EnvNames(), ", "))
	}
	return e, i, nil
}

// loadKnown reads delivery.yaml and checks that it lists env and svc: the
// first thing every write about one service in one environment does.
func loadKnown(t *gitops.Tree, env, svc string) (*delivery.Config, delivery.Environment, int, error) {
	cfg, err := loadConfig(t)
	if err != nil {
		return nil, delivery.Environment{}, 0, err
	}
	e, i, err := knownEnv(cfg, env)
	if err != nil {
		return nil, delivery.Environment{}, 0, err
	}
	return cfg, e, i, knownService(cfg, svc)
}

func knownService(cfg *delivery.Config, svc string) error {
	if _, ok := cfg.Service(svc); ok {
		return nil
	}
	names := make([]string, len(cfg.Services))
	for i, s := range cfg.Services {
		names[i] = s.Name
	}
	known := strings.Join(names, ", ")
	if known == "" {
		known = "none"
	}
	return fault.Invalidf("unknown service %q: %s lists %s; add it with `smpctl gitops add-service %s`", svc, delivery.FileName, known, svc)
}

// readEnvFile returns the environment file's bytes and owned values; a
// missing file reads as empty (the image block will be appended).
func readEnvFile(t *gitops.Tree, env, svc string) ([]byte, envfile.Values, error) {
	p := envPath(env, svc)
	b, err := t.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, envfile.Values{}, nil
	}
	if err != nil {
		return nil, envfile.Values{}, err
	}
	v, err := envfile.Read(b)
	if err != nil {
		return nil, envfile.Values{}, fault.Invalidf("%s in the GitOps repository: %w; fix the file there", p, err)
	}
	return b, v, nil
}

func writeEnvFile(t *gitops.Tree, env, svc string, old []byte, v envfile.Values) error {
	p := envPath(env, svc)
	b, err := envfile.Set(old, v)
	if err != nil {
		return fault.Invalidf("%s in the GitOps repository: %w; fix the file there", p, err)
	}
	return t.WriteFile(p, b)
}

// checkFreeze refuses a change while a freeze is active, unless overridden
// with a reason.
// It returns the override reason to record when a freeze was overridden.
func checkFreeze(cfg *delivery.Config, action, env, override string, now time.Time) (string, error) {
	w, active, err := freeze.Active(cfg, env, now)
	if err != nil {
		return "", fault.Invalid(fmt.Errorf("%s: %w", delivery.FileName, err))
	}
	if !active {
		return "", nil
	}
	if override != "" {
		return override, nil
	}
	return "", fault.Refusedf("%s to %s refused: %s; wait until then, or pass --override-freeze --reason TEXT (recorded in the commit)", action, env, w)
}

func readHold(t *gitops.Tree, env, svc string) (*Hold, error) {
	b, err := t.ReadFile(holdPath(env, svc))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h, err := statefile.DecodeHold(b)
	if err != nil {
		return nil, fault.Invalidf("%s in the GitOps repository is not a hold: %w", holdPath(env, svc), err)
	}
	return &h, nil
}

// checkHold refuses automated changes to a held environment and service.
func checkHold(t *gitops.Tree, env, svc string) error {
	h, err := readHold(t, env, svc)
	if err != nil || h == nil {
		return err
	}
	reason := ""
	if h.Reason != "" {
		reason = " (" + untrusted.Text(h.Reason) + ")"
	}
	return fault.Refusedf("%s in %s is held since %s by %s%s; release it with `smpctl hold release --env %s --service %s`",
		svc, env, h.Since.Format(time.RFC3339), untrusted.Name(h.By), reason, env, svc)
}

// requireApproval checks the gate of an environment for tag and digest and
// returns who approved.
func requireApproval(t *gitops.Tree, cfg *delivery.Config, e delivery.Environment, svc string, img imageref.Ref, deployer, claimed string) (string, error) {
	if e.Approval == delivery.ApprovalNone {
		return claimed, nil
	}
	p := approvalPath(e.Name, svc, img.Tag)
	b, err := t.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fault.Refusedf("%s needs an approval (%s) for %s %s: record one with `smpctl approve --env %s --service %s --version %s --by NAME`",
			e.Name, e.Approval, svc, img.Tag, e.Name, svc, img.Tag)
	}
	if err != nil {
		return "", err
	}
	var a Approval
	if err := yaml.Unmarshal(b, &a); err != nil {
		return "", fault.Invalidf("%s in the GitOps repository is not an approval: %w", p, err)
	}
	if a.Digest != img.Digest {
		return "", fault.Refusedf("the approval of %s %s in %s is for digest %s, not %s: approve the image being deployed", svc, img.Tag, e.Name, a.Digest, img.Digest)
	}
	if claimed != "" && claimed != a.ApprovedBy {
		return "", fault.Refusedf("approved by %s, you say, but the recorded approval of %s %s in %s is by %s", claimed, svc, img.Tag, e.Name, a.ApprovedBy)
	}
	if err := mayApprove(cfg, e, a.ApprovedBy); err != nil {
		return "", err
	}
	if e.Approval == delivery.ApprovalReleaseManager {
		if deployer == "" {
			return "", fault.Inputf("By", "%s needs a release manager who is not the deployer: name who deploys", e.Name)
		}
		if deployer == a.ApprovedBy {
			return "", fault.Refusedf("%s approved %s %s for %s and cannot also deploy it: a release manager must not approve their own deploy", a.ApprovedBy, svc, img.Tag, e.Name)
		}
	}
	return a.ApprovedBy, nil
}

// mayApprove says whether name may approve changes to e.
func mayApprove(cfg *delivery.Config, e delivery.Environment, name string) error {
	list := cfg.ReleaseManagers
	what := "releaseManagers"
	if e.Approval == delivery.ApprovalRequired {
		list = append(append([]string(nil), cfg.Approvers...), cfg.ReleaseManagers...)
		what = "approvers or releaseManagers"
	}
	for _, n := range list {
		if n == name {
			return nil
		}
	}
	return fault.Refusedf("%s may not approve %s: %s lists %s: %s", name, e.Name, delivery.FileName, what, strings.Join(list, ", "))
}

// running is what the last deploy, promote or rollback recorded.
type running struct {
	commit, sourceCommit string
	sourceTime           time.Time
}

// lastWrite finds the newest deploy/promote/rollback commit of env/svc.
func lastWrite(ctx context.Context, t *gitops.Tree, env, svc string) (running, error) {
	var r running
	err := t.Log(ctx, envPath(env, svc), func(rev gitops.Revision) (bool, error) {
		switch rev.Trailers["Action"] {
		case "deploy", "promote", "rollback":
		default:
			return false, nil
		}
		r.commit = rev.Hash
		r.sourceCommit = rev.Trailers["Source-Commit"]
		if st := rev.Trailers["Source-Time"]; st != "" {
			r.sourceTime, _ = time.Parse(time.RFC3339, st)
		}
		return true, nil
	})
	return r, err
}

// Source identifies the build being deployed.
type Source struct {
	Commit string
	Time   time.Time
	// Repo is a local clone of the service repository: when set, ancestry
	// decides the out-of-order guard instead of commit times.
	Repo string
}

func (s Source) trailers() []gitops.Trailer {
	var tr []gitops.Trailer
	if s.Commit != "" {
		tr = append(tr, gitops.Trailer{Key: "Source-Commit", Value: s.Commit})
	}
	if !s.Time.IsZero() {
		tr = append(tr, gitops.Trailer{Key: "Source-Time", Value: s.Time.UTC().Format(time.RFC3339)})
	}
	return tr
}

// checkOrder refuses a build older than the one running.
func checkOrder(ctx context.Context, t *gitops.Tree, action, env, svc string, src Source) error {
	if src.Time.IsZero() && (src.Repo == "" || src.Commit == "") {
		return nil
	}
	cur, err := lastWrite(ctx, t, env, svc)
	if err != nil {
		return err
	}
	if cur.commit == "" || cur.sourceCommit == src.Commit && src.Commit != "" {
		return nil
	}
	refuse := func(how string) error {
		return fault.Refusedf("%s of %s to %s refused: source %s is older than the running source %s (%s); deploys only move forward — to go back, use `smpctl rollback --env %s --service %s`",
			action, svc, env, short(src.Commit), short(cur.sourceCommit), how, env, svc)
	}
	if src.Repo != "" && src.Commit != "" && cur.sourceCommit != "" {
		older, decided, err := olderByAncestry(ctx, src.Repo, src.Commit, cur.sourceCommit)
		if err != nil {
			return err
		}
		if decided {
			if older {
				return refuse("by ancestry in " + src.Repo)
			}
			return nil
		}
	}
	if !src.Time.IsZero() && !cur.sourceTime.IsZero() && src.Time.Before(cur.sourceTime) {
		return refuse(fmt.Sprintf("source time %s before %s", src.Time.UTC().Format(time.RFC3339), cur.sourceTime.UTC().Format(time.RFC3339)))
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}

func short(sha string) string {
	if sha == "" {
		return "(unknown)"
	}
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// trailer builds the trailers every image write shares.
func imageTrailers(action, env, svc string, img imageref.Ref, prev string) []gitops.Trailer {
	return []gitops.Trailer{
		{Key: "Action", Value: action},
		{Key: "Environment", Value: env},
		{Key: "Service", Value: svc},
		{Key: "Image", Value: img.String()},
		{Key: "Image-Digest", Value: img.Digest},
		{Key: "Previous-Digest", Value: prev},
	}
}

// Run applies change to repo and fills an Outcome; ErrNoChange becomes a
// successful outcome with AlreadyDone and the given message.
func run(ctx context.Context, repo *gitops.Repo, out Outcome, noop string, change gitops.Change) (Outcome, error) {
	// The commit of the last attempt is the one that landed: a rejected
	// push re-applies the change, and the approval it finds may differ.
	var landed gitops.Commit
	var cfg *delivery.Config
	res, err := repo.Apply(ctx, func(ctx context.Context, t *gitops.Tree) (gitops.Commit, error) {
		c, err := change(ctx, t)
		landed, cfg = c, nil
		if err == nil {
			// The tree with the change's edits: the commit's delivery.yaml.
			// One that cannot be read is no reason to refuse the write;
			// what needs it reads the remote again.
			cfg, _ = readConfig(t)
		}
		return c, err
	})
	var applied *gitops.AlreadyAppliedError
	switch {
	case errors.As(err, &applied):
		out.AlreadyDone = true
		out.Commit = applied.Commit
		out.Message = fmt.Sprintf("change %s already landed as %.12s (%s); nothing to commit", applied.ChangeID, applied.Commit, applied.Subject)
		return out, nil
	case errors.Is(err, gitops.ErrNoChange):
		out.AlreadyDone = true
		out.Message = noop
		return out, nil
	case err != nil:
		return out, err
	}
	out.Commit, out.Attempts = res.Commit, res.Attempts
	out.Message = res.Subject
	out.ApprovedBy = trailer(landed.Trailers, "Approved-By")
	out.Config = cfg
	return out, nil
}

// trailer is the value of the trailer key among tr, or "".
func trailer(tr []gitops.Trailer, key string) string {
	for _, t := range tr {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// Open opens the GitOps remote the writes in this package go to. Its
// errors carry their kind (gitops's sentinels): a remote that does not
// exist is invalid input, one that refuses the credentials a refusal.
func Open(r gitops.Remote, id gitops.Identity, opts gitops.Options) (*gitops.Repo, error) {
	return gitops.Open(r, id, opts)
}

// ReadConfig reads delivery.yaml at the branch's head, of any format
// version this smpctl reads: what the commands that act after a write
// (notifications) need from it.
func ReadConfig(ctx context.Context, repo *gitops.Repo) (*delivery.Config, error) {
	var cfg *delivery.Config
	err := repo.Read(ctx, func(_ context.Context, t *gitops.Tree) error {
		var err error
		cfg, err = readConfig(t)
		return err
	})
	return cfg, err
}
