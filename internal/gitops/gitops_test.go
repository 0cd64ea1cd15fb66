package gitops_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
)

var bot = gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"}

func fast() gitops.Options {
	// Generous bounds: this machine is shared, and 30 writers at once on two
	// cores need many rounds; the retry delay is what tests shorten.
	return gitops.Options{RetryDelay: time.Millisecond, Attempts: 500, Budget: 5 * time.Minute, CallTimeout: time.Minute}
}

func open(t *testing.T, url string, opts gitops.Options) *gitops.Repo {
	t.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	r, err := gitops.Open(gitops.Remote{URL: url}, bot, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func write(path, content string, trailers ...gitops.Trailer) gitops.Change {
	return func(_ context.Context, tr *gitops.Tree) (gitops.Commit, error) {
		if err := tr.WriteFile(path, []byte(content)); err != nil {
			return gitops.Commit{}, err
		}
		return gitops.Commit{Subject: "write " + path, Trailers: trailers}, nil
	}
}

func TestApplyCommitsUnderTheIdentityWithTrailers(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	r := open(t, bare, fast())
	res, err := r.Apply(context.Background(), write("environments/dev/x.yaml", "x\n",
		gitops.Trailer{Key: "Action", Value: "deploy"},
		gitops.Trailer{Key: "Override-Freeze", Value: "hotfix\nAction: forged"},
		gitops.Trailer{Key: "Empty", Value: ""}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 1 || len(res.Commit) != 40 {
		t.Errorf("result %+v", res)
	}
	got := gitcmdtest.Git(t, bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", "main")
	want := "smpctl-bot <smpctl-bot@users.noreply.smp.vn>|smpctl-bot <smpctl-bot@users.noreply.smp.vn>|write environments/dev/x.yaml\n\nAction: deploy\nOverride-Freeze: hotfix Action: forged"
	if got != want {
		t.Errorf("commit:\n%s\nwant:\n%s", got, want)
	}
	if tr := gitcmdtest.Git(t, bare, "log", "-1", "--format=%(trailers:key=Action,valueonly)", "main"); tr != "deploy" {
		t.Errorf("Action trailers = %q; a newline in a value must not forge a trailer", tr)
	}
}

func TestApplyWithoutChangeIsErrNoChangeAndNoCommit(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	_, err := open(t, bare, fast()).Apply(context.Background(), write("a.txt", "a\n"))
	if !errors.Is(err, gitops.ErrNoChange) {
		t.Fatalf("err = %v, want ErrNoChange", err)
	}
	if after := gitcmdtest.Git(t, bare, "rev-parse", "main"); after != before {
		t.Errorf("remote moved from %s to %s", before, after)
	}
}

func TestApplyRetriesAfterAHookRejects(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	gitopstest.RejectFirst(t, bare, 3)
	res, err := open(t, bare, fast()).Apply(context.Background(), write("b.txt", "b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 4 || gitopstest.Rejected(t, bare) != 3 {
		t.Errorf("attempts = %d, rejected = %d; want 4 and 3", res.Attempts, gitopstest.Rejected(t, bare))
	}
	if got := gitcmdtest.Git(t, bare, "show", "main:b.txt"); got != "b" {
		t.Errorf("b.txt = %q", got)
	}
}

func TestApplyGivesUpAfterItsAttempts(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	gitopstest.RejectFirst(t, bare, 1000)
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	opts := fast()
	opts.Attempts = 3
	_, err := open(t, bare, opts).Apply(context.Background(), write("b.txt", "b\n"))
	if !errors.Is(err, gitops.ErrRejected) || !strings.Contains(err.Error(), "server busy") {
		t.Fatalf("err = %v, want ErrRejected quoting the hook", err)
	}
	if after := gitcmdtest.Git(t, bare, "rev-parse", "main"); after != before {
		t.Error("a rejected push moved the remote")
	}
}

func TestApplyTimesOutARemoteCall(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	hook := "#!/bin/sh\nsleep 20\n"
	if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := fast()
	opts.CallTimeout = 300 * time.Millisecond
	opts.Attempts = 1
	start := time.Now()
	_, err := open(t, bare, opts).Apply(context.Background(), write("b.txt", "b\n"))
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("the timeout did not stop the push")
	}
}

// TestConcurrentWritersAllLand: 10 writers of 10 different files and 10
// writers of one shared counter, all at once, through a hook that also
// rejects the first pushes. Every write lands; the counter proves the change
// is re-applied to the new head rather than replayed as text. (The 20 + 10
// deploys of the issue run one level up, in internal/gitops/write.)
func TestConcurrentWritersAllLand(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"counter": "0\n"})
	gitopstest.RejectFirst(t, bare, 5)
	// A Repo per writer over one cache directory, as separate smpctl
	// processes: each takes the mirror's file lock on its own.
	opts := fast()
	opts.CacheDir = t.TempDir()
	increment := func(_ context.Context, tr *gitops.Tree) (gitops.Commit, error) {
		b, err := tr.ReadFile("counter")
		if err != nil {
			return gitops.Commit{}, err
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err := tr.WriteFile("counter", []byte(strconv.Itoa(n+1)+"\n")); err != nil {
			return gitops.Commit{}, err
		}
		return gitops.Commit{Subject: fmt.Sprintf("counter %d", n+1)}, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 10 {
		wg.Go(func() {
			_, err := open(t, bare, opts).Apply(context.Background(), write(fmt.Sprintf("environments/dev/svc-%02d.yaml", i), "x\n"))
			errs <- err
		})
	}
	for range 10 {
		wg.Go(func() {
			_, err := open(t, bare, opts).Apply(context.Background(), increment)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := gitcmdtest.Git(t, bare, "show", "main:counter"); got != "10" {
		t.Errorf("counter = %s, want 10: an increment was lost", got)
	}
	files := gitcmdtest.Git(t, bare, "ls-tree", "--name-only", "main", "environments/dev/")
	if n := len(strings.Fields(files)); n != 10 {
		t.Errorf("%d service files, want 10", n)
	}
	if n := gitcmdtest.Git(t, bare, "rev-list", "--count", "main"); n != "21" {
		t.Errorf("%s commits, want 21 (1 + 20)", n)
	}
}

func TestOpenRefusesAMissingRemote(t *testing.T) {
	t.Parallel()
	for _, u := range []string{filepath.Join(t.TempDir(), "nope"), "file:///nonexistent/gitops.git", ""} {
		_, err := gitops.Open(gitops.Remote{URL: u}, bot, gitops.Options{})
		if !errors.Is(err, gitops.ErrRemoteNotFound) {
			t.Errorf("Open(%q) = %v, want ErrRemoteNotFound", u, err)
		}
	}
	// A directory that is not a repository.
	r := open(t, t.TempDir(), fast())
	_, err := r.Apply(context.Background(), write("a", "a"))
	if !errors.Is(err, gitops.ErrRemoteNotFound) {
		t.Errorf("Apply on a plain directory = %v, want ErrRemoteNotFound", err)
	}
}

func TestHTTPSRemoteWithToken(t *testing.T) {
	t.Parallel()
	const token = "s3cr3t-token-value"
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	srv, ca := gitopstest.HTTPSRemote(t, filepath.Dir(bare), token)
	url := srv.URL + "/" + filepath.Base(bare)

	r, err := gitops.Open(gitops.Remote{URL: url, Token: token, CAFile: ca}, bot, fast())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(context.Background(), write("b.txt", "b\n")); err != nil {
		t.Fatalf("push over https: %v", err)
	}
	if got := gitcmdtest.Git(t, bare, "show", "main:b.txt"); got != "b" {
		t.Errorf("b.txt = %q", got)
	}

	bad, err := gitops.Open(gitops.Remote{URL: url, Token: "wrong-" + token, CAFile: ca}, bot, fast())
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Apply(context.Background(), write("c.txt", "c\n"))
	if !errors.Is(err, gitops.ErrAuth) {
		t.Fatalf("wrong token: err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("the error prints the token: %v", err)
	}
}

func TestTreeRefusesPathsOutsideTheRepository(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	for _, p := range []string{"../x", "/etc/passwd", "a/../../x", `..\x`} {
		_, err := open(t, bare, fast()).Apply(context.Background(), write(p, "x"))
		if !errors.Is(err, gitops.ErrOutsideTree) {
			t.Errorf("write %q: %v, want ErrOutsideTree", p, err)
		}
	}
}

func TestLogReachesPastRecentCommits(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"old.txt": "1\n"})
	work := t.TempDir()
	gitcmdtest.Git(t, work, "clone", "--quiet", bare, ".")
	for i := range 150 {
		if err := os.WriteFile(filepath.Join(work, "busy.txt"), []byte(strconv.Itoa(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		gitcmdtest.Git(t, work, "add", "busy.txt")
		gitcmdtest.Git(t, work, "commit", "--quiet", "-m", fmt.Sprintf("busy %d", i))
	}
	gitcmdtest.Git(t, work, "push", "--quiet", "origin", "main")
	var subjects []string
	err := open(t, bare, fast()).Read(context.Background(), func(ctx context.Context, tr *gitops.Tree) error {
		return tr.Log(ctx, "old.txt", func(rev gitops.Revision) (bool, error) {
			subjects = append(subjects, rev.Subject)
			return false, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(subjects) != 1 || subjects[0] != "gitops: init" {
		t.Errorf("history of old.txt = %q, want just the init commit", subjects)
	}
}

func TestSSHRemoteThroughTheAgent(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	prefix, sock := gitopstest.SSHRemote(t, filepath.Dir(bare))
	ssh := "ssh -o BatchMode=yes -o IdentityAgent=" + sock + " -o IdentityFile=none -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
	r, err := gitops.Open(gitops.Remote{URL: prefix + bare, SSHCommand: ssh}, bot, fast())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(context.Background(), write("b.txt", "b\n")); err != nil {
		t.Fatalf("push over ssh: %v", err)
	}
	if got := gitcmdtest.Git(t, bare, "show", "main:b.txt"); got != "b" {
		t.Errorf("b.txt = %q", got)
	}
	// Without the agent, the server refuses: ErrAuth.
	noAgent := strings.Replace(ssh, "IdentityAgent="+sock, "IdentityAgent=none", 1)
	r, err = gitops.Open(gitops.Remote{URL: prefix + bare, SSHCommand: noAgent}, bot, fast())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(context.Background(), write("c.txt", "c\n")); !errors.Is(err, gitops.ErrAuth) {
		t.Fatalf("without the agent: %v, want ErrAuth", err)
	}
}
