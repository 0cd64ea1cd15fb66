//go:build unix

package write_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/write"
)

// The regression tests of issue #15's "only images that earned it" and
// "writes that apply exactly once": each fails on the main branch from
// before that issue.

func deployDev(t *testing.T, r *gitops.Repo, tag string, d byte, minute int) {
	t.Helper()
	_, err := write.Deploy(context.Background(), r, write.DeployRequest{
		Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc",
		Image:  img(t, "order-svc", tag, d),
		Source: write.Source{Time: wednesday.Add(time.Duration(minute) * time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func commits(t *testing.T, bare string) string {
	t.Helper()
	return gitcmdtest.Git(t, bare, "rev-list", "--count", "main")
}

func hook(t *testing.T, bare, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(bare, "hooks", name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestADeployOfAnotherRepositorysImageIsRefused(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	before := commits(t, bare)
	evil := img(t, "order-svc", "9.9.9", 'e')
	evil.Repository = "ghcr.io/evil/backdoor"
	_, err := write.Deploy(context.Background(), r, write.DeployRequest{
		Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc", Image: evil,
	})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "ghcr.io/evil/backdoor is not order-svc's image repository") ||
		!strings.Contains(err.Error(), "ghcr.io/smp/order-svc") {
		t.Fatalf("deploy of ghcr.io/evil/backdoor as order-svc = %v, want a refusal naming the service's repository", err)
	}
	if commits(t, bare) != before {
		t.Error("a refused deploy committed")
	}
}

func TestARollbackToADigestThatNeverRanThereIsRefused(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	deployDev(t, r, "3.2.0", 'a', 0)
	before := commits(t, bare)

	// deploy --rollback with an image of the service's repository that no
	// environment ever ran: it would skip approval, freeze and order.
	_, err := write.Deploy(ctx, r, write.DeployRequest{
		Common: write.Common{By: "mallory", Now: wednesday}, Env: "dev", Service: "order-svc",
		Image: img(t, "order-svc", "9.9.9", 'e'), Rollback: true,
	})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "never ran in dev") ||
		!strings.Contains(err.Error(), "3.2.0 (sha256:"+strings.Repeat("a", 64)+"), 3.1.0 (sha256:"+strings.Repeat("1", 64)+")") {
		t.Fatalf("rollback to a foreign digest = %v, want a refusal listing what ran in dev", err)
	}
	// And in prod, which ran only 3.1.0, the image dev runs is not a rollback either.
	_, err = write.Deploy(ctx, r, write.DeployRequest{
		Common: write.Common{By: "mallory", Now: wednesday}, Env: "prod", Service: "order-svc",
		Image: img(t, "order-svc", "3.2.0", 'a'), Rollback: true,
	})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "never ran in prod") {
		t.Fatalf("rollback of prod to dev's image = %v, want a refusal", err)
	}
	if commits(t, bare) != before {
		t.Error("a refused rollback committed")
	}
	// A digest that did run there is a rollback.
	out, err := write.Deploy(ctx, r, write.DeployRequest{
		Common: write.Common{By: "oncall", Now: wednesday}, Env: "dev", Service: "order-svc",
		Image: img(t, "order-svc", "3.1.0", '1'), Rollback: true,
	})
	if err != nil || out.Action != "rollback" {
		t.Fatalf("rollback to 3.1.0, which ran in dev: %+v %v", out, err)
	}
	// It takes the fast lane, naming the commit that put 3.1.0 in dev.
	// The file's commits, newest first: this rollback, 3.2.0's deploy, then 3.1.0's.
	revs := strings.Fields(gitcmdtest.Git(t, bare, "log", "--format=%H", "main", "--", "environments/dev/order-svc.yaml"))
	if len(revs) != 3 {
		t.Fatalf("dev's file has %d commits, want 3: %v", len(revs), revs)
	}
	ranFrom := revs[2]
	if c := lastCommit(t, bare); !strings.Contains(c, "Fast-Lane: ran in dev from "+ranFrom[:12]) {
		t.Errorf("deploy --rollback's commit lacks the Fast-Lane trailer naming %.12s:\n%s", ranFrom, c)
	}
}

// TestARollbackRacingADeployDoesNotWriteTheBadImageBack: the server's hook
// lets a CI deploy (3.3.0) land just before the rollback's first push and
// rejects that push. Re-computing "the image before the current one" on the
// new head would write 3.2.0 — the image being rolled back — over it.
func TestARollbackRacingADeployDoesNotWriteTheBadImageBack(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	deployDev(t, r, "3.2.0", 'a', 0) // the bad release
	// The racing deploy, made for real and parked on a side ref.
	deployDev(t, r, "3.3.0", 'b', 1)
	gitcmdtest.Git(t, bare, "update-ref", "refs/race/deploy", "main")
	gitcmdtest.Git(t, bare, "update-ref", "refs/heads/main", "main~1")
	hook(t, bare, "pre-receive", `if [ ! -f "$GIT_DIR/raced" ]; then
	touch "$GIT_DIR/raced"
	env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main refs/race/deploy
	echo "busy: another push landed first" >&2
	exit 1
fi
`)
	_, err := write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "oncall", Now: wednesday}, Env: "dev", Service: "order-svc", Reason: "5xx"})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "changed while the rollback was being written: it now runs 3.3.0") ||
		!strings.Contains(err.Error(), "not 3.2.0") {
		t.Fatalf("rollback racing a deploy = %v, want a refusal naming what runs now", err)
	}
	if got := show(t, bare, "environments/dev/order-svc.yaml"); !strings.Contains(got, strings.Repeat("b", 64)) {
		t.Errorf("dev no longer runs the deploy that won the race:\n%s", got)
	}
	if out := gitcmdtest.Git(t, bare, "ls-tree", "main", "state/holds/dev/"); out != "" {
		t.Errorf("a refused rollback left a hold: %s", out)
	}
}

// TestAPushWhoseAcknowledgementIsLostIsNotReportedAsFailed: the server
// lands the commit, then its post-receive hook outlives the push's timeout.
// The write asks the remote, finds its commit, and succeeds; re-running
// the same change (same change id) does not roll back twice.
func TestAPushWhoseAcknowledgementIsLostIsNotReportedAsFailed(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	deployDev(t, r, "3.2.0", 'a', 0)
	deployDev(t, r, "3.3.0", 'b', 1)
	// The hook outlives the push's call timeout by far; its sleep is
	// stopped by its PID at the end.
	hook(t, bare, "post-receive", "sleep 120 &\necho $! > \"$GIT_DIR/sleep.pid\"\nwait\n")
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(bare, "sleep.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	slow, err := write.Open(gitops.Remote{URL: bare}, gitops.Identity{Name: "smpctl-bot", Email: "bot@example.com"},
		gitops.Options{RetryDelay: time.Millisecond, Attempts: 1, CallTimeout: 30 * time.Second, Budget: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	req := write.RollbackRequest{Common: write.Common{By: "oncall", Now: wednesday, ChangeID: "inc-7-rollback-dev"}, Env: "dev", Service: "order-svc"}
	out, err := write.Rollback(ctx, slow, req)
	if err != nil || out.Image.Tag != "3.2.0" || out.Commit == "" {
		t.Fatalf("rollback whose push timed out after landing = %+v, %v; want it reported as done", out, err)
	}
	if head := gitcmdtest.Git(t, bare, "rev-parse", "main"); head != out.Commit {
		t.Errorf("reported commit %s, the remote has %s", out.Commit, head)
	}
	if msg := lastCommit(t, bare); !strings.Contains(msg, "Change-Id: inc-7-rollback-dev") {
		t.Errorf("commit lacks its change id:\n%s", msg)
	}
	// The on-call engineer re-runs the same rollback: nothing more happens.
	hook(t, bare, "post-receive", "")
	n := commits(t, bare)
	again, err := write.Rollback(ctx, r, req)
	if err != nil || !again.AlreadyDone || again.Commit != out.Commit {
		t.Fatalf("re-run of the same rollback = %+v, %v; want already done at %s", again, err, out.Commit)
	}
	if commits(t, bare) != n {
		t.Error("the re-run rolled back twice")
	}
	if got := show(t, bare, "environments/dev/order-svc.yaml"); !strings.Contains(got, strings.Repeat("a", 64)) {
		t.Errorf("dev should run 3.2.0:\n%s", got)
	}
}

func TestEveryCommitCarriesAChangeID(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	deployDev(t, repoFor(t, bare), "3.2.0", 'a', 0)
	msg := lastCommit(t, bare)
	var id string
	for _, l := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(l, "Change-Id: "); ok {
			id = v
		}
	}
	if len(id) != 32 {
		t.Errorf("change id %q, want 32 hex digits:\n%s", id, msg)
	}
}

func TestAProtectedBranchEndsTheWriteAtOnce(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	hook(t, bare, "pre-receive", `echo x >> "$GIT_DIR/pushes"
echo "error: GH006: Protected branch update failed for refs/heads/main." >&2
exit 1
`)
	_, err := write.Deploy(context.Background(), repoFor(t, bare), write.DeployRequest{
		Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc", Image: img(t, "order-svc", "3.2.0", 'a'),
	})
	if !errors.Is(err, gitops.ErrPermanent) || !fault.IsRefused(err) || !strings.Contains(err.Error(), "GH006: Protected branch update failed") {
		t.Fatalf("push to a protected branch = %v, want gitops.ErrPermanent quoting the server", err)
	}
	b, _ := os.ReadFile(filepath.Join(bare, "pushes"))
	if n := strings.Count(string(b), "x"); n != 1 {
		t.Errorf("%d pushes, want 1: a permanent refusal is not retried", n)
	}
}
