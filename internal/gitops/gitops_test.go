package gitops_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	want := "smpctl-bot <smpctl-bot@users.noreply.smp.vn>|smpctl-bot <smpctl-bot@users.noreply.smp.vn>|write environments/dev/x.yaml\n\nAction: deploy\nOverride-Freeze: hotfix Action: forged\nChange-Id: "
	if id, ok := strings.CutPrefix(got, want); !ok || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
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

// remoteWithLinks is a remote whose tree holds a symbolic link to a file
// outside it, a symbolic link to a directory, and an executable file.
func remoteWithLinks(t *testing.T) string {
	t.Helper()
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n", "envs/dev/x.yaml": "x: 1\n", "run.sh": "#!/bin/sh\n"})
	work := t.TempDir()
	gitcmdtest.Git(t, work, "clone", "--quiet", bare, ".")
	if err := os.Symlink("/etc/passwd", filepath.Join(work, "passwd.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("envs", filepath.Join(work, "linked")); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, work, "add", "--all")
	gitcmdtest.Git(t, work, "update-index", "--chmod=+x", "run.sh")
	gitcmdtest.Git(t, work, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "--quiet", "-m", "links")
	gitcmdtest.Git(t, work, "push", "--quiet", "origin", "main")
	return bare
}

func TestTreeRefusesSymbolicLinksOfTheRepository(t *testing.T) {
	t.Parallel()
	bare := remoteWithLinks(t)
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	for _, tt := range []struct {
		name   string
		change gitops.Change
	}{
		{"read a link to a file outside", func(_ context.Context, tr *gitops.Tree) (gitops.Commit, error) {
			_, err := tr.ReadFile("passwd.yaml")
			return gitops.Commit{Subject: "read"}, err
		}},
		{"read through a link to a directory", func(_ context.Context, tr *gitops.Tree) (gitops.Commit, error) {
			_, err := tr.ReadFile("linked/dev/x.yaml")
			return gitops.Commit{Subject: "read"}, err
		}},
		{"write over a link", write("passwd.yaml", "x")},
		{"write through a link to a directory", write("linked/dev/y.yaml", "y")},
		{"remove a link", func(_ context.Context, tr *gitops.Tree) (gitops.Commit, error) {
			return gitops.Commit{Subject: "rm"}, tr.Remove("passwd.yaml")
		}},
	} {
		_, err := open(t, bare, fast()).Apply(context.Background(), tt.change)
		if !errors.Is(err, gitops.ErrOutsideTree) {
			t.Errorf("%s: %v, want ErrOutsideTree", tt.name, err)
		}
	}
	if after := gitcmdtest.Git(t, bare, "rev-parse", "main"); after != before {
		t.Errorf("remote moved from %s to %s", before, after)
	}
}

func TestTreeSeesItsOwnEditsAndCommitsOnlyRealChanges(t *testing.T) {
	t.Parallel()
	bare := remoteWithLinks(t)
	res, err := open(t, bare, fast()).Apply(context.Background(), func(_ context.Context, tr *gitops.Tree) (gitops.Commit, error) {
		steps := []error{
			tr.WriteFile("state/holds/dev/x.yaml", []byte("held\n")),
			tr.WriteFile("a.txt", []byte("a\n")),             // unchanged
			tr.WriteFile("run.sh", []byte("#!/bin/sh\n:\n")), // keeps its mode
			tr.Remove("envs/dev/x.yaml"),
			tr.Remove("envs/dev/missing.yaml"), // not an error
			tr.WriteFile("tmp.txt", []byte("t")),
			tr.Remove("tmp.txt"), // written and removed: no change
		}
		for _, err := range steps {
			if err != nil {
				return gitops.Commit{}, err
			}
		}
		if b, err := tr.ReadFile("state/holds/dev/x.yaml"); err != nil || string(b) != "held\n" {
			return gitops.Commit{}, fmt.Errorf("read back %q: %w", b, err)
		}
		if _, err := tr.ReadFile("envs/dev/x.yaml"); !errors.Is(err, os.ErrNotExist) {
			return gitops.Commit{}, fmt.Errorf("a removed file reads: %w", err)
		}
		if !tr.Exists("state/holds") || tr.Exists("tmp.txt") || !tr.Exists("a.txt") {
			return gitops.Commit{}, errors.New("Exists does not see the edits")
		}
		if got, _ := tr.List("state/holds/dev"); strings.Join(got, ",") != "x.yaml" {
			return gitops.Commit{}, fmt.Errorf("List(state/holds/dev) = %q", got)
		}
		if got, _ := tr.List("."); strings.Join(got, ",") != "a.txt,envs,linked,passwd.yaml,run.sh,state" {
			return gitops.Commit{}, fmt.Errorf("List(.) = %q", got)
		}
		if err := tr.WriteFile("envs", []byte("x")); err == nil {
			return gitops.Commit{}, errors.New("a file written over a directory")
		}
		return gitops.Commit{Subject: "edits"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := gitcmdtest.Git(t, bare, "show", "--format=", "--name-status", res.Commit)
	if want := "D\tenvs/dev/x.yaml\nM\trun.sh\nA\tstate/holds/dev/x.yaml"; got != want {
		t.Errorf("commit changes:\n%s\nwant:\n%s", got, want)
	}
	if mode := gitcmdtest.Git(t, bare, "ls-tree", "main", "run.sh"); !strings.HasPrefix(mode, "100755 ") {
		t.Errorf("run.sh lost its mode: %s", mode)
	}
	if parent := gitcmdtest.Git(t, bare, "rev-parse", res.Commit+"^"); parent != gitcmdtest.Git(t, bare, "rev-parse", "main^") {
		t.Errorf("parent %s", parent)
	}
}

// TestWritesLeaveNothingBehind: a write's scratch repository is removed,
// and nothing is written into the mirror but what fetches bring.
func TestWritesLeaveNothingBehind(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	opts := fast()
	opts.CacheDir = t.TempDir()
	res, err := open(t, bare, opts).Apply(context.Background(), write("b.txt", "b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("%s holds %v after the write", tmp, left)
	}
	// The commit reached the mirror by the next fetch only.
	mirror := mirrorOf(t, opts.CacheDir)
	if _, err := open(t, bare, opts).Apply(context.Background(), write("b.txt", "b\n")); !errors.Is(err, gitops.ErrNoChange) {
		t.Fatalf("the same write again: %v, want ErrNoChange", err)
	}
	gitcmdtest.Git(t, mirror, "cat-file", "-e", res.Commit+"^{commit}")
}
