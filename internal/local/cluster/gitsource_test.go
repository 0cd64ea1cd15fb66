package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
)

// Head reads the branch of every form of remote the runtime is given: a
// bare repository or a work tree on this machine (read where it is, one git
// process) and a URL (ls-remote), with the same answer and the same message
// for a branch that does not exist.
func TestHeadReadsTheBranchOfEveryFormOfRemote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	gitcmdtest.Git(t, "", "init", "--quiet", "--initial-branch=main", work)
	gitcmdtest.Git(t, work, "commit", "--quiet", "--allow-empty", "-m", "gitops: init")
	head := gitcmdtest.Git(t, work, "rev-parse", "HEAD")
	bare := filepath.Join(dir, "smp-gitops.git")
	gitcmdtest.Git(t, "", "clone", "--quiet", "--bare", work, bare)
	ctx := context.Background()
	for name, remote := range map[string]string{"bare repository": bare, "work tree": work, "file URL": "file://" + bare} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got, err := (&GitRepo{Remote: remote}).Head(ctx); err != nil || got != head {
				t.Errorf("Head of %s = %q, %v; want %s", remote, got, err, head)
			}
			_, err := (&GitRepo{Remote: remote, Branch: "release"}).Head(ctx)
			if err == nil || !strings.Contains(err.Error(), "branch release does not exist (run smpctl gitops init)") {
				t.Errorf("Head of a branch %s lacks: %v", remote, err)
			}
		})
	}
	if _, err := (&GitRepo{Remote: filepath.Join(dir, "nothing-here")}).Head(ctx); err == nil || !strings.Contains(err.Error(), "read head of "+filepath.Join(dir, "nothing-here")) {
		t.Errorf("Head of a path that is no repository: %v", err)
	}
}

// Read gives the same snapshot from every form of remote: read where it is
// for a bare repository or a work tree on this machine, through the local
// clone for a URL (fetched once, then only when a revision is new to it);
// a revision the remote does not hold is named as such.
func TestReadGivesTheSameSnapshotFromEveryFormOfRemote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	gitcmdtest.Git(t, "", "init", "--quiet", "--initial-branch=main", work)
	files := map[string]string{
		"delivery.yaml":       deliveryYAML,
		"apps/dev-apps.yaml":  appsDev,
		"apps/prod-apps.yaml": fmt.Sprintf(appsManual, "prod"),
		"environments/dev/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 1.0.0\n  digest: sha256:" +
			strings.Repeat("a", 64) + "\nreplicaCount: 2\n",
		"environments/prod/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 0.9.0\n  digest: sha256:" +
			strings.Repeat("b", 64) + "\nreplicaCount: 3\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(work, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitcmdtest.Git(t, work, "add", "-A")
	gitcmdtest.Git(t, work, "commit", "--quiet", "-m", "gitops: init")
	head := gitcmdtest.Git(t, work, "rev-parse", "HEAD")
	bare := filepath.Join(dir, "smp-gitops.git")
	gitcmdtest.Git(t, "", "clone", "--quiet", "--bare", work, bare)
	want, err := BuildSnapshot(head, func() map[string][]byte {
		m := map[string][]byte{}
		for p, c := range files {
			m[p] = []byte(c)
		}
		return m
	}())
	if err != nil {
		t.Fatal(err)
	}
	if dev := want.Envs["dev"]; dev == nil || !dev.Automated || dev.Services["order-svc"].Tag != "1.0.0" || want.Envs["prod"].Services["order-svc"].Replicas != 3 {
		t.Fatalf("the snapshot to compare with lacks what the files say: %+v", want.Envs)
	}
	ctx := context.Background()
	for name, remote := range map[string]string{"bare repository": bare, "work tree": work, "file URL": "file://" + bare} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clone := filepath.Join(t.TempDir(), "clone.git")
			g := &GitRepo{Remote: remote, Dir: clone}
			got, err := g.Read(ctx, head)
			if err != nil {
				t.Fatalf("Read %s: %v", remote, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Read %s:\n%+v\nwant\n%+v", remote, got.Envs, want.Envs)
			}
			_, statErr := os.Stat(clone)
			if local := !strings.Contains(remote, "://"); local != os.IsNotExist(statErr) {
				t.Errorf("a clone of %s at %s: %v; want one only for a URL", remote, clone, statErr)
			}
			other := strings.Repeat("1", 40)
			if _, err := g.Read(ctx, other); err == nil || !strings.Contains(err.Error(), "revision "+other+" is not on main of "+remote) {
				t.Errorf("Read of a revision %s lacks: %v", remote, err)
			}
		})
	}
}

// Head runs git only when a file that holds the branch changed (or changed
// within the last second): a poll that finds the same files answers from
// what the last read found. A wrapper on PATH counts the git processes.
func TestHeadRunsGitOnlyWhenTheBranchChanged(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "git-calls")
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\necho x >> '" + count + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "smp-gitops.git")
	work := filepath.Join(dir, "work")
	gitcmdtest.Git(t, "", "init", "--quiet", "--bare", "--initial-branch=main", bare)
	gitcmdtest.Git(t, "", "clone", "--quiet", bare, work)
	push := func() string {
		gitcmdtest.Git(t, work, "commit", "--quiet", "--allow-empty", "-m", "deploy")
		gitcmdtest.Git(t, work, "push", "--quiet", "origin", "HEAD:main")
		return gitcmdtest.Git(t, work, "rev-parse", "HEAD")
	}
	// touch dates the ref files: an hour ago is what a poll long after the
	// push finds; a time ahead of the clock stays "just written" however
	// slowly the test runs.
	touch := func(at time.Time) {
		for _, p := range []string{"refs/heads/main", "packed-refs"} {
			if err := os.Chtimes(filepath.Join(bare, p), at, at); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
	}
	age := func() { touch(time.Now().Add(-time.Hour)) }
	calls := func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "x")
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx := context.Background()
	g := &GitRepo{Remote: bare}
	heads := func(want string, n, gits int) {
		t.Helper()
		before := calls()
		for range n {
			if got, err := g.Head(ctx); err != nil || got != want {
				t.Fatalf("Head = %q, %v; want %s", got, err, want)
			}
		}
		if got := calls() - before; got != gits {
			t.Errorf("%d polls ran git %d times; want %d", n, got, gits)
		}
	}
	first := push()
	touch(time.Now().Add(time.Hour))
	heads(first, 3, 3) // just written: every poll reads
	age()
	heads(first, 5, 1) // settled: read once, then from the stamps
	second := push()
	heads(second, 1, 1) // a push is seen at the next poll
	age()
	heads(second, 4, 1)
	gitcmdtest.Git(t, bare, "pack-refs", "--all", "--prune") // the loose ref goes into packed-refs
	age()
	heads(second, 4, 1)
	third := push()
	age()
	heads(third, 4, 1)
}
