package history

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
)

// fixture is a real GitOps repository built with the git CLI, commit by
// commit, with the subjects and trailers of docs/gitops-format.md and fixed
// dates, so hashes and times are reproducible.
type fixture struct {
	t   *testing.T
	dir string
}

const testDelivery = `apiVersion: delivery.smp.vn/v1
kind: Delivery
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: approval}
  - {name: prod, sync: manual, trigger: release, approval: release-manager}
services:
  - name: order-svc
    critical: true
  - name: partner-svc
`

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir()}
	f.git(t0, "init", "--quiet", "--initial-branch=main")
	f.write("delivery.yaml", testDelivery)
	f.commit(t0, "gitops: init\n\nAction: init")
	return f
}

func (f *fixture) git(at time.Time, args ...string) string {
	f.t.Helper()
	return runGit(f.t, f.dir, at, args...)
}

// runGit runs git in dir as smpctl-bot with both dates at.
func runGit(t *testing.T, dir string, at time.Time, args ...string) string {
	t.Helper()
	return gitcmdtest.GitEnv(t, dir, append(gitcmdtest.Env("smpctl-bot", "bot@example.com"), gitcmdtest.Dates(at)...), args...)
}

func (f *fixture) write(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// commit stages everything and commits msg; it returns the new hash.
func (f *fixture) commit(at time.Time, msg string) string {
	f.t.Helper()
	f.git(at, "add", "--all")
	f.git(at, "commit", "--quiet", "--allow-empty", "-m", msg)
	return f.git(at, "rev-parse", "HEAD")
}

// change writes an image into env/svc and commits it as action (deploy,
// promote, rollback) with the trailers smpctl writes.
type change struct {
	action, env, svc, tag string
	digest, previous      string
	source                string
	sourceTime            time.Time
	by, from              string
	approvedBy, run       string
	at                    time.Time
}

func (f *fixture) change(c change) string {
	f.t.Helper()
	f.write(fmt.Sprintf("environments/%s/%s.yaml", c.env, c.svc), fmt.Sprintf(
		"# %s in %s\nimage:\n  repository: ghcr.io/smp/%s\n  tag: %s\n  digest: %s\nchart:\n  version: 0.1.0\nreplicaCount: 2\n",
		c.svc, c.env, c.svc, c.tag, c.digest))
	var tr []string
	tr = append(tr, "Action: "+c.action, "Environment: "+c.env, "Service: "+c.svc,
		fmt.Sprintf("Image: ghcr.io/smp/%s:%s@%s", c.svc, c.tag, c.digest), "Image-Digest: "+c.digest)
	if c.previous != "" {
		tr = append(tr, "Previous-Digest: "+c.previous)
	}
	if c.source != "" {
		tr = append(tr, "Source-Commit: "+c.source)
	}
	if !c.sourceTime.IsZero() {
		tr = append(tr, "Source-Time: "+c.sourceTime.Format(time.RFC3339))
	}
	if c.from != "" {
		tr = append(tr, "Promoted-From: "+c.from)
	}
	if c.by != "" {
		tr = append(tr, "Deployed-By: "+c.by)
	}
	if c.approvedBy != "" {
		tr = append(tr, "Approved-By: "+c.approvedBy)
	}
	if c.run != "" {
		tr = append(tr, "Pipeline-Run: "+c.run)
	}
	msg := fmt.Sprintf("%s(%s): %s → %s\n\n%s", c.action, c.env, c.svc, c.tag, strings.Join(tr, "\n"))
	return f.commit(c.at, msg)
}

func (f *fixture) open(t *testing.T) *Repo {
	t.Helper()
	r, err := Open(context.Background(), f.dir, OpenOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open %s: %v", f.dir, err)
	}
	return r
}

// osMkdirTemp is a temporary directory for the benchmark repository, shared
// by every benchmark of the process (b.TempDir would rebuild it per
// benchmark).
func osMkdirTemp() (string, error) { return os.MkdirTemp("", "smp-gitops-bench-") }
