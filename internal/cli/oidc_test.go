package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/ciidentity"
	"github.com/smp/delivery/internal/ciidentity/ciidentitytest"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
)

// TestOIDCProvesTheRunAWriteRecords: with --oidc a write asks the job for
// its OIDC token (GitHub Actions' token request, served by a recorded
// stand-in of GitHub's issuer), verifies it against the issuer's keys and
// records what it proves as OIDC-* trailers next to Pipeline-Run. A token
// it cannot verify is a refusal (exit 1), a --run that is not the token's
// run or --oidc without --run bad input (exit 2), and where the environment
// has requireOIDC a typed --run is refused (exit 1): nothing is written.
func TestOIDCProvesTheRunAWriteRecords(t *testing.T) {
	t.Parallel()
	is := ciidentitytest.NewIssuer(t)
	is.Set("environment", "dev") // the CD's dev job
	is.Set("sub", "repo:smp/order-svc:environment:dev")
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml": "apiVersion: delivery.smp.vn/v1\nkind: Delivery\nversion: 4\nenvironments:\n" +
			"  - {name: dev, sync: automated, trigger: main, approval: none, requireOIDC: true}\nservices:\n  - name: order-svc\n    repository: smp/order-svc\n",
		"environments/dev/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.2.0\n  digest: sha256:" + strings.Repeat("a", 64) + "\n",
	})
	head := func() string { return gitcmdtest.Git(t, bare, "rev-parse", "HEAD") }
	run := "https://github.com/smp/order-svc/actions/runs/1234567890"
	smpctl := func(env map[string]string, args ...string) (int, string) {
		t.Helper()
		var stdout, stderr lockedBuffer
		a := &App{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, Now: time.Now}
		code := a.Run(context.Background(), append([]string{"hold", "--gitops", bare, "--cache-dir", t.TempDir(),
			"--env", "dev", "--service", "order-svc", "--by", "alice", "--reason", "investigating"}, args...))
		return code, stdout.String() + stderr.String()
	}

	before := head()
	forged := ciidentitytest.NewIssuer(t) // same claims, its own keys
	fork := ciidentitytest.NewIssuer(t)   // a real token, of another repository's run
	fork.Set("repository", "mallory/order-svc")
	fork.Set("environment", "dev")
	forkRun := "https://github.com/mallory/order-svc/actions/runs/1234567890"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"a token another issuer's key signed", forged.Env(), []string{"--oidc", "--oidc-issuer", is.URL, "--run", run}, 1, "does not prove who it is: failed to verify signature"},
		{"--run names another run", is.Env(), []string{"--oidc", "--oidc-issuer", is.URL, "--run", "https://github.com/smp/order-svc/actions/runs/999"}, 2, "is not the run the OIDC token proves (smp/order-svc run 1234567890)"},
		{"--oidc without --run", is.Env(), []string{"--oidc", "--oidc-issuer", is.URL}, 2, "give --run"},
		{"no token to ask for", nil, []string{"--oidc", "--oidc-issuer", is.URL, "--run", run}, 2, "permissions: id-token: write"},
		{"--oidc-issuer without --oidc", is.Env(), []string{"--oidc-issuer", is.URL, "--run", run}, 2, "--oidc-issuer says which issuer --oidc trusts"},
		{"a proven run of another repository", fork.Env(), []string{"--by", "alice", "--oidc", "--oidc-issuer", fork.URL, "--run", forkRun}, 1,
			"this hold's run is of repository mallory/order-svc, and delivery.yaml says order-svc is deployed by smp/order-svc"},
		{"a typed --run where dev requires OIDC", is.Env(), []string{"--run", run}, 1, "dev requires CI writes to prove their run (requireOIDC in delivery.yaml)"},
		{"--by someone the run does not act for", is.Env(), []string{"--by", "mallory", "--oidc", "--oidc-issuer", is.URL, "--run", run}, 2,
			"--by mallory is not who this run acts for: its OIDC token names alice (the run's actor)"},
	} {
		code, out := smpctl(tc.env, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %d saying %q:\n%s", tc.name, code, tc.code, tc.want, out)
		}
		if h := head(); h != before {
			t.Fatalf("%s: the remote moved to %s", tc.name, h)
		}
	}

	// approve: the run acts for who asked (--requested-by); its --by is
	// the environment's reviewer, whom the token does not name.
	var stdout, stderr lockedBuffer
	app := &App{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return is.Env()[k] }, Now: time.Now}
	if code := app.Run(context.Background(), []string{"approve", "--gitops", bare, "--cache-dir", t.TempDir(), "--env", "dev", "--service", "order-svc",
		"--version", "3.2.0", "--by", "carol", "--requested-by", "mallory", "--oidc", "--oidc-issuer", is.URL, "--run", run}); code != 2 ||
		!strings.Contains(stderr.String(), "--requested-by mallory is not who this run acts for") || head() != before {
		t.Errorf("approve --requested-by mallory --oidc: exit %d, want 2 and nothing written:\n%s%s", code, stdout.String(), stderr.String())
	}

	if code, out := smpctl(is.Env(), "--oidc", "--oidc-issuer", is.URL, "--run", run+"/attempts/1"); code != 0 {
		t.Fatalf("hold --oidc: exit %d:\n%s", code, out)
	}
	msg := gitcmdtest.Git(t, bare, "log", "-1", "--format=%B")
	for _, want := range []string{
		"Deployed-By: alice\n",
		"Pipeline-Run: " + run + "/attempts/1\n",
		"OIDC-Issuer: " + is.URL + "\n",
		"OIDC-Subject: repo:smp/order-svc:environment:dev\n",
		"OIDC-Workflow: smp/order-svc/.github/workflows/cd.yml@refs/heads/main\n",
		"OIDC-Job-Workflow: smp/delivery/.github/workflows/cd.yml@refs/tags/v0.2.0\n",
		"OIDC-Run: 1234567890/1\n",
		"OIDC-Actor: alice\n",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the hold's commit lacks %q:\n%s", want, msg)
		}
	}
	// history shows what backs the hold's BY: the run the token proved.
	stdout, stderr = lockedBuffer{}, lockedBuffer{}
	a := &App{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Now: time.Now}
	if code := a.Run(context.Background(), []string{"history", "--gitops", bare, "--cache-dir", t.TempDir(), "--env", "dev", "--service", "order-svc"}); code != 0 ||
		!regexp.MustCompile(`(?m)^\S+ +hold +\S+ +\S+ +alice +OIDC run 1234567890/1 `).MatchString(stdout.String()) {
		t.Errorf("history: exit %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	if got := is.Audiences(); len(got) == 0 || got[len(got)-1] != ciidentity.Audience {
		t.Errorf("token requests asked for %q, want %s", got, ciidentity.Audience)
	}
}
