package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/signing"
	"github.com/smp/delivery/internal/gitops/signing/signingtest"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/image/imageref"
)

// guardedYAML: staging takes only approvals signed by carol's key
// (signedApprovals), and only what soaked an hour in dev; prod's release
// managers may approve unsigned.
const guardedYAML = `version: 3
apiVersion: delivery.smp.vn/v1
kind: Delivery
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: approval, signedApprovals: true, soak: 1h}
  - {name: prod, sync: manual, trigger: release, approval: release-manager}
approvers: [carol]
releaseManagers: [minh]
signers:
  - login: carol
    keys: [%q]
services:
  - name: order-svc
  - name: partner-svc
`

// guarded is a remote written by smpctl's writers where
//
//   - order-svc 1.3.0 soaked in dev and runs in staging on an approval
//     carol signed;
//   - partner-svc 1.8.0 soaked in dev and runs in staging on an approval
//     that was signed and then rewritten by hand, unsigned;
//   - partner-svc 1.9.0 soaks in dev, so the automated deploy of 2.0.0 to
//     dev is queued behind it (deploy --queue-if-soaking).
type guarded struct {
	bare string
	// carol is carol's key's fingerprint.
	carol string
	// soakUntil is when partner-svc 1.9.0 will have soaked an hour in dev.
	soakUntil time.Time
}

func newGuarded(t *testing.T) guarded {
	t.Helper()
	key := signingtest.NewKey(t, "carol")
	files := map[string]string{"delivery.yaml": fmt.Sprintf(guardedYAML, key.Public)}
	for _, svc := range []string{"order-svc", "partner-svc"} {
		for _, env := range []string{"dev", "staging", "prod"} {
			files["environments/"+env+"/"+svc+".yaml"] = fmt.Sprintf("image:\n  repository: ghcr.io/smp/%s\nchart:\n  version: 0.1.0\n", svc)
		}
	}
	g := guarded{bare: gitopstest.NewRemote(t, files)}
	pk, err := signing.ParsePublicKey(key.Public)
	if err != nil {
		t.Fatal(err)
	}
	g.carol = signing.Fingerprint(pk)
	id := gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"}
	plain, err := write.Open(gitops.Remote{URL: g.bare}, id, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.NewKeySigner(key.Path)
	if err != nil {
		t.Fatal(err)
	}
	// carol approves with --signing-key, as signedApprovals asks.
	signed, err := write.Open(gitops.Remote{URL: g.bare}, id, gitops.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	img := func(svc, tag string, d byte) imageref.Ref {
		ref, err := imageref.Parse(fmt.Sprintf("ghcr.io/smp/%s:%s@%s", svc, tag, digest(d)))
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	deploy := func(env, svc, tag string, d byte, by string) {
		t.Helper()
		// With a Pipeline-Run: CI's deploy, which holds no person's key.
		req := write.DeployRequest{Common: write.Common{By: by, Now: time.Now(), Run: "https://ci.example/runs/1"}, Env: env, Service: svc, Image: img(svc, tag, d)}
		if _, err := write.Deploy(ctx, plain, req); err != nil {
			t.Fatalf("deploy %s %s to %s: %v", svc, tag, env, err)
		}
	}
	approve := func(svc, tag string, d byte) {
		t.Helper()
		req := write.ApproveRequest{Common: write.Common{By: "carol", Now: time.Now()}, Env: "staging", Service: svc, Version: tag, Digest: digest(d), RequestedBy: "alice"}
		if _, err := write.Approve(ctx, signed, req); err != nil {
			t.Fatalf("approve %s %s for staging: %v", svc, tag, err)
		}
	}
	// soaked records a version's hour in dev, as a passing gate watch
	// does: staging takes nothing else, deploy or promote.
	soaked := func(svc, tag string) {
		t.Helper()
		req := write.SoakRequest{Common: write.Common{By: "smpctl-gate", Now: time.Now().Add(2 * time.Hour)}, Env: "dev", Service: svc, Version: tag}
		if _, err := write.RecordSoak(ctx, plain, req); err != nil {
			t.Fatalf("record the soak of %s %s in dev: %v", svc, tag, err)
		}
	}
	deploy("dev", "order-svc", "1.3.0", 'a', "ci")
	soaked("order-svc", "1.3.0")
	approve("order-svc", "1.3.0", 'a')
	deploy("staging", "order-svc", "1.3.0", 'a', "alice")

	deploy("dev", "partner-svc", "1.8.0", 'e', "ci")
	soaked("partner-svc", "1.8.0")
	approve("partner-svc", "1.8.0", 'e')
	deploy("staging", "partner-svc", "1.8.0", 'e', "alice")
	rewriteUnsigned(t, g.bare, "state/approvals/staging/partner-svc/1.8.0.yaml")
	deploy("dev", "partner-svc", "1.9.0", 'c', "ci")

	// CD's deploy of 2.0.0 while 1.9.0 soaks in dev: queued.
	out, err := write.QueueOrDeploy(ctx, plain, write.DeployRequest{Common: write.Common{By: "ci", Now: time.Now(), Run: "https://ci.example/runs/2"},
		Env: "dev", Service: "partner-svc", Image: img("partner-svc", "2.0.0", 'd')})
	if err != nil || out.Action != "queue" {
		t.Fatalf("deploy partner-svc 2.0.0 to dev while 1.9.0 soaks = %+v, %v; want it queued", out, err)
	}
	deployed := strings.TrimSpace(gitcmdtest.Git(t, g.bare, "log", "-1", "--format=%ct", "main", "--", "environments/dev/partner-svc.yaml"))
	secs, err := strconv.ParseInt(deployed, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	g.soakUntil = time.Unix(secs, 0).Add(time.Hour)
	return g
}

// rewriteUnsigned commits the approval file at p again with git itself,
// unsigned, as anyone with push access can.
func rewriteUnsigned(t *testing.T, bare, p string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	gitcmdtest.Git(t, "", "clone", "-q", bare, dir)
	f := filepath.Join(dir, p)
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, append(b, "# rewritten by hand\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, "commit", "-q", "-am", "approve(staging): partner-svc 1.8.0\n\nApproved-By: carol")
	gitcmdtest.Git(t, dir, "push", "-q", "origin", "HEAD:main")
}

// cellOf is the matrix cell of svc in the env-th environment.
func cellOf(t *testing.T, doc *html.Node, svc string, env int) *html.Node {
	t.Helper()
	tr := byID(doc, "s-"+svc)
	if tr == nil {
		t.Fatalf("no row for %s in the matrix", svc)
	}
	return all(tr, "td")[env]
}

// envRow is the row of env in the service page's table of environments, by
// column heading.
func envRow(t *testing.T, doc *html.Node, env string) map[string]string {
	t.Helper()
	table := byID(doc, "envs")
	var heads []string
	for _, th := range all(all(table, "thead")[0], "th") {
		heads = append(heads, text(th))
	}
	for _, tr := range all(all(table, "tbody")[0], "tr") {
		var cells []string
		for c := tr.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
				cells = append(cells, text(c))
			}
		}
		if len(cells) > 0 && cells[0] == env {
			m := map[string]string{}
			for i, h := range heads {
				if i < len(cells) {
					m[h] = cells[i]
				}
			}
			return m
		}
	}
	t.Fatalf("no row for %s in the table of environments", env)
	return nil
}

func TestTheMatrixAndTheServicePageSayWhetherTheApprovalInForceIsSignedAndWhatIsQueued(t *testing.T) {
	t.Parallel()
	g := newGuarded(t)
	d := newDashboard(t, g.bare, dashboard.Options{})
	when := g.soakUntil.UTC().Format("2006-01-02 15:04Z")

	code, body, doc := get(t, d, "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d:\n%s", code, body)
	}
	// order-svc in staging: carol's signature, her key's fingerprint on
	// hover.
	staging := cellOf(t, doc, "order-svc", 1)
	if got := text(staging); !strings.HasSuffix(got, "approved by carol signed ✓ carol") {
		t.Errorf("order-svc's staging cell reads %q, want it to end \"approved by carol signed ✓ carol\"", got)
	}
	if !hasTitle(staging, "approval signed with "+g.carol) {
		t.Errorf("order-svc's staging cell has no title naming carol's key %s", g.carol)
	}
	// partner-svc in staging: the approval in force was rewritten unsigned.
	if got := text(cellOf(t, doc, "partner-svc", 1)); !strings.HasSuffix(got, "approved by carol not signed: unsigned") {
		t.Errorf("partner-svc's staging cell reads %q, want it to say the approval is not signed", got)
	}
	// partner-svc in dev still runs 1.9.0, with 2.0.0 queued behind its soak.
	dev := text(cellOf(t, doc, "partner-svc", 0))
	if !strings.HasPrefix(dev, "1.9.0 ") || !strings.HasSuffix(dev, "queued: 2.0.0, soaks until "+when) {
		t.Errorf("partner-svc's dev cell reads %q, want 1.9.0 with \"queued: 2.0.0, soaks until %s\"", dev, when)
	}
	// Nothing is signed, queued or required where nothing asks for it.
	for _, c := range []*html.Node{cellOf(t, doc, "order-svc", 0), cellOf(t, doc, "order-svc", 2), cellOf(t, doc, "partner-svc", 2)} {
		if got := text(c); strings.Contains(got, "signed") || strings.Contains(got, "queued") {
			t.Errorf("a cell without a signed gate or a queue reads %q", got)
		}
	}

	_, _, doc = get(t, d, "/services/order-svc")
	if got := envRow(t, doc, "staging")["Approval signature"]; !strings.HasPrefix(got, "signed ✓ carol "+g.carol+" ") {
		t.Errorf("order-svc's page: staging's approval signature reads %q, want signed by carol with %s and the commit", got, g.carol)
	}
	for env, want := range map[string]string{"dev": "", "prod": "not required"} {
		if got := envRow(t, doc, env)["Approval signature"]; got != want {
			t.Errorf("order-svc's page: %s's approval signature reads %q, want %q", env, got, want)
		}
	}
	_, _, doc = get(t, d, "/services/partner-svc")
	if got := envRow(t, doc, "staging")["Approval signature"]; !strings.HasPrefix(got, "not signed: unsigned ") {
		t.Errorf("partner-svc's page: staging's approval signature reads %q, want not signed: unsigned", got)
	}
	got := envRow(t, doc, "dev")["Soak queue"]
	if want := "queued: 2.0.0, soaks until " + when + " (behind 1.9.0, queued "; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, " by ci)") {
		t.Errorf("partner-svc's page: dev's soak queue reads %q, want %q… by ci)", got, want)
	}
	if got := envRow(t, doc, "staging")["Soak queue"]; got != "" {
		t.Errorf("partner-svc's page: staging's soak queue reads %q, want nothing", got)
	}
}

// hasTitle reports whether n or an element in it has the title want.
func hasTitle(n *html.Node, want string) bool {
	if attr(n, "title") == want {
		return true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if hasTitle(c, want) {
			return true
		}
	}
	return false
}
