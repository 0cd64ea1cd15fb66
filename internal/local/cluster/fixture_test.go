package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/testkit/testctx"
	"github.com/smp/delivery/internal/testkit/testimage"
)

var binDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "runtime-bins-")
	if err != nil {
		log.Fatal(err)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

const deliveryYAML = `apiVersion: delivery.smp.vn/v1
kind: Delivery
environments:
  - {name: dev, sync: automated, trigger: main}
  - {name: staging, sync: manual, trigger: rc, approval: approval}
  - {name: prod, sync: manual, trigger: release, approval: release-manager}
`

const appsDev = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: order-svc-dev, namespace: argocd}
spec:
  project: default
  syncPolicy:
    automated: {prune: true, selfHeal: true}
`

const appsManual = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: order-svc-%s, namespace: argocd}
spec:
  project: default
`

var dbSeq atomic.Int64

// fixture is one test's world: a real registry in-process, a bare git
// repository as the GitOps remote, a clone to commit from, and a runtime.
type fixture struct {
	t       testing.TB
	reg     *httptest.Server
	host    string
	remote  string
	work    string
	rt      *Runtime
	dbs     Database
	regOpen atomic.Bool
	tamper  atomic.Bool
}

type fixtureOpt func(*Config)

func newFixture(t testing.TB, opts ...fixtureOpt) *fixture {
	t.Helper()
	f := &fixture{t: t}
	f.regOpen.Store(true)
	regH := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	f.reg = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.regOpen.Load() {
			// The registry is "down": the connection is cut without an answer.
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
				return
			}
		}
		if f.tamper.Load() && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			w = &tamperWriter{ResponseWriter: w}
		}
		regH.ServeHTTP(w, r)
	}))
	t.Cleanup(f.reg.Close)
	f.host = strings.TrimPrefix(f.reg.URL, "http://")
	dir := t.TempDir()
	f.remote = filepath.Join(dir, "smp-gitops.git")
	f.work = filepath.Join(dir, "work")
	f.git("", "init", "--quiet", "--bare", "--initial-branch=main", f.remote)
	f.git("", "clone", "--quiet", f.remote, f.work)
	f.write("delivery.yaml", deliveryYAML)
	f.write("apps/dev-apps.yaml", appsDev)
	f.write("apps/staging-apps.yaml", fmt.Sprintf(appsManual, "staging"))
	f.write("apps/prod-apps.yaml", fmt.Sprintf(appsManual, "prod"))
	f.commit("gitops: init")

	f.dbs = Database{Addr: "127.0.0.1:3306", Prefix: fmt.Sprintf("rt%d_%d_", os.Getpid(), dbSeq.Add(1))}
	cfg := Config{
		Dir:               filepath.Join(dir, "runtime"),
		Git:               &GitRepo{Remote: f.remote, Dir: filepath.Join(dir, "clone.git")},
		Images:            &Registry{Cache: filepath.Join(dir, "images")},
		Database:          f.dbs,
		Redis:             Redis{Addr: "127.0.0.1:6379"},
		PollInterval:      100 * time.Millisecond,
		RestartBackoff:    50 * time.Millisecond,
		MaxRestartBackoff: 400 * time.Millisecond,
		ReadyTimeout:      60 * time.Second,
		StopGrace:         3 * time.Second,
		RetryBackoff:      200 * time.Millisecond,
		MigrateTimeout:    2 * time.Minute, // migrations share one MariaDB with every other test
	}
	for _, o := range opts {
		o(&cfg)
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.rt = rt
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = rt.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		rt.Close()
		f.dropDatabases()
	})
	return f
}

func (f *fixture) dropDatabases() {
	// It runs as a cleanup, after t's context ended: the binary's deadline bounds it.
	ctx, cancel := testctx.Main()
	defer cancel()
	if _, err := f.dbs.DropAll(ctx); err != nil {
		f.t.Log(err)
	}
}

func (f *fixture) git(dir string, args ...string) string {
	f.t.Helper()
	return gitcmdtest.Git(f.t, dir, args...)
}

func (f *fixture) write(path, content string) {
	f.t.Helper()
	p := filepath.Join(f.work, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// commit commits the work tree and pushes it; it returns the commit.
func (f *fixture) commit(msg string) string {
	f.t.Helper()
	f.git(f.work, "add", "-A")
	f.git(f.work, "commit", "--quiet", "-m", msg)
	f.git(f.work, "push", "--quiet", "origin", "HEAD:main")
	return f.git(f.work, "rev-parse", "HEAD")
}

// image builds the test server at version with mode and pushes it.
func (f *fixture) image(version, mode string) string {
	f.t.Helper()
	d, err := testimage.Push(testctx.New(f.t), binDir, f.host+"/smp/order-svc:"+version, version, mode)
	if err != nil {
		f.t.Fatal(err)
	}
	return d.String()
}

type svcFile struct {
	tag, digest string
	replicas    int
	blueGreen   bool
	delay       int
}

func (f *fixture) deploy(env string, s svcFile) string {
	f.t.Helper()
	b := fmt.Sprintf("# order-svc in %s\nimage:\n  repository: %s/smp/order-svc\n  tag: %s\n  digest: %s\nreplicaCount: %d\n",
		env, f.host, s.tag, s.digest, s.replicas)
	if s.blueGreen {
		b += fmt.Sprintf("strategy: blueGreen\nblueGreen:\n  scaleDownDelaySeconds: %d\n", s.delay)
	}
	f.write("environments/"+env+"/order-svc.yaml", b)
	return f.commit(fmt.Sprintf("deploy(%s): order-svc → %s", env, s.tag))
}

func (f *fixture) svc(env string) ServiceStatus {
	for _, e := range f.rt.Status().Envs {
		if e.Name == env {
			for _, s := range e.Services {
				if s.Name == "order-svc" {
					return s
				}
			}
		}
	}
	return ServiceStatus{}
}

var client = &http.Client{Timeout: 5 * time.Second}

// version asks url's /health which version answers.
func version(url string) (string, error) {
	if url == "" {
		return "", fmt.Errorf("no URL yet")
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url+"/health", nil)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var h struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return "", fmt.Errorf("decode /health (%d): %w", resp.StatusCode, err)
	}
	return h.Version, nil
}

// eventually waits for cond until the test's deadline (testctx).
func eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	testctx.Eventually(t, 20*time.Millisecond, what, cond)
}

// syncFailed waits until env records that its last sync did not complete
// and returns the environment's status. A service reports its failure as it
// happens; the environment records the sync's error only when the whole
// sync ends (after the other services and the prune), so a test that has
// seen the service fail must wait for the environment too.
func (f *fixture) syncFailed(env string) EnvStatus {
	f.t.Helper()
	var st EnvStatus
	eventually(f.t, env+" records the failed sync", func() error {
		for _, e := range f.rt.Status().Envs {
			if e.Name == env {
				if st = e; e.SyncError == "" {
					return fmt.Errorf("%s: %s, no sync error yet", env, e.SyncStatus)
				}
				return nil
			}
		}
		return fmt.Errorf("no environment %s", env)
	})
	return st
}

// serving waits until url's /health reports want.
func (f *fixture) serving(url func() string, want string) {
	f.t.Helper()
	eventually(f.t, "serve "+want, func() error {
		got, err := version(url())
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("serves %s", got)
		}
		return nil
	})
}
