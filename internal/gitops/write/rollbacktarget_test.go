//go:build unix

package write_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/write"
)

// sideBranch pushes a branch that points env's file of order-svc at
// repository@sha256:<d×64> in one commit off main, as anyone with push
// access to a non-protected branch can, and returns that commit.
func sideBranch(t *testing.T, bare, branch, env, repository string, d byte) string {
	t.Helper()
	wt := t.TempDir()
	gitcmdtest.Git(t, wt, "clone", "--quiet", bare, ".")
	gitcmdtest.Git(t, wt, "checkout", "--quiet", "-b", branch)
	body := "image:\n  repository: " + repository + "\n  tag: 9.9.9\n  digest: sha256:" + strings.Repeat(string(d), 64) + "\nchart:\n  version: 0.1.0\n"
	if err := os.WriteFile(filepath.Join(wt, "environments", env, "order-svc.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, wt, "-c", "user.name=mallory", "-c", "user.email=m@example.com", "commit", "--quiet", "-am", "fix typo")
	gitcmdtest.Git(t, wt, "push", "--quiet", "origin", branch)
	return gitcmdtest.Git(t, wt, "rev-parse", "HEAD")
}

// TestARollbackToARevisionOffMainIsRefused: `rollback --to <revision>`
// restored whatever a revision pinned, and the mirror fetches every
// branch, so a commit on a side branch could put a foreign image in prod,
// past approval and freeze (the fast lane). A revision now counts only
// for an image that ran in the environment on main.
func TestARollbackToARevisionOffMainIsRefused(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	deployDev(t, r, "3.2.0", 'a', 0)
	for _, c := range []struct{ name, repository, want string }{
		{"a foreign repository", "ghcr.io/evil/backdoor", "never ran in prod"},
		{"the service's repository, a digest that never ran", "ghcr.io/smp/order-svc", "never ran in prod"},
	} {
		t.Run(c.name, func(t *testing.T) {
			branch := "evil-" + strings.ReplaceAll(c.repository, "/", "-")
			rev := sideBranch(t, bare, branch, "prod", c.repository, 'e')
			before := commits(t, bare)
			_, err := write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "mallory", Now: wednesday}, Env: "prod", Service: "order-svc", To: rev[:12]})
			if !fault.IsRefused(err) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "3.1.0 (sha256:"+strings.Repeat("1", 64)+")") {
				t.Fatalf("rollback of prod --to %s (%s on a side branch) = %v; want a refusal saying %q and listing what prod ran", rev[:12], c.repository, err, c.want)
			}
			if commits(t, bare) != before {
				t.Error("a refused rollback committed")
			}
			if got := show(t, bare, "environments/prod/order-svc.yaml"); strings.Contains(got, strings.Repeat("e", 64)) {
				t.Errorf("prod pins the side branch's image:\n%s", got)
			}
		})
	}
	// A revision on main means each environment's file as it was then:
	// prod's pinned 3.1.0, which prod runs; dev's pinned 3.2.0.
	deployDev(t, r, "3.3.0", 'b', 1)
	rev := gitcmdtest.Git(t, bare, "log", "-1", "--format=%H", "--grep", "deploy(dev): order-svc → 3.2.0", "main")
	if out, err := write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "oncall", Now: wednesday}, Env: "prod", Service: "order-svc", To: rev}); err != nil || !out.AlreadyDone {
		t.Fatalf("rollback of prod --to %s = %+v, %v; want nothing to do (prod ran 3.1.0 then and now)", rev[:12], out, err)
	}
	out, err := write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "oncall", Now: wednesday}, Env: "dev", Service: "order-svc", To: rev})
	if err != nil || out.Image.Tag != "3.2.0" {
		t.Fatalf("rollback of dev --to %s = %+v, %v; want 3.2.0", rev[:12], out, err)
	}
	if c := lastCommit(t, bare); !strings.Contains(c, "Fast-Lane: ran in dev from "+rev[:12]) {
		t.Errorf("the rollback lacks the Fast-Lane trailer naming %.12s:\n%s", rev, c)
	}
}

// TestASecondRollbackDoesNotRestoreTheReleaseTheFirstRemoved: "the image
// before the current one" was read from the file's history alone, so a
// second rollback (or a failed gate watch of the restored version) went
// back to the release the first rollback had taken out, with the fast
// lane. It now goes further back; naming that release is still allowed,
// without the fast lane.
func TestASecondRollbackDoesNotRestoreTheReleaseTheFirstRemoved(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	deployDev(t, r, "3.2.0", 'a', 0)
	deployDev(t, r, "3.3.0", 'b', 1) // the bad release
	rollback := func(to string) (write.Outcome, error) {
		return write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "oncall", Now: wednesday}, Env: "dev", Service: "order-svc", To: to, Reason: "5xx"})
	}
	if out, err := rollback(""); err != nil || out.Image.Tag != "3.2.0" {
		t.Fatalf("first rollback = %+v, %v; want 3.2.0", out, err)
	}
	out, err := rollback("")
	if err != nil || out.Image.Tag != "3.1.0" {
		t.Fatalf("second rollback = %+v, %v; want 3.1.0, not 3.3.0 which the first took out", out, err)
	}
	// Nothing older than 3.1.0: a third finds nothing it may restore, and says how to name one.
	n := commits(t, bare)
	_, err = rollback("")
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "that a rollback did not take out of dev") || !strings.Contains(err.Error(), "--to") {
		t.Fatalf("third rollback = %v, want a refusal naming --to", err)
	}
	if commits(t, bare) != n {
		t.Error("a refused rollback committed")
	}
	// Named, 3.3.0 returns, but without the fast lane: it did not keep its place.
	out, err = rollback("3.3.0")
	if err != nil || out.Image.Tag != "3.3.0" {
		t.Fatalf("rollback --to 3.3.0 = %+v, %v", out, err)
	}
	if c := lastCommit(t, bare); strings.Contains(c, "Fast-Lane") {
		t.Errorf("a rollback to a release a rollback took out claims the fast lane:\n%s", c)
	}
	if !strings.Contains(out.Message, "no fast lane: 3.3.0 was rolled back from in dev") {
		t.Errorf("the rollback says %q; want it to say why there is no fast lane", out.Message)
	}
	// deploy --rollback to 3.2.0, which the second rollback took out: no fast lane either.
	if _, err := write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "oncall", Now: wednesday}, Env: "dev", Service: "order-svc",
		Image: img(t, "order-svc", "3.2.0", 'a'), Rollback: true}); err != nil {
		t.Fatal(err)
	}
	if c := lastCommit(t, bare); !strings.Contains(c, "Action: rollback") || strings.Contains(c, "Fast-Lane") {
		t.Errorf("deploy --rollback to 3.2.0, which a rollback took out:\n%s", c)
	}
}
