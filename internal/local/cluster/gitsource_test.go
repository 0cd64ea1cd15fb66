package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

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
