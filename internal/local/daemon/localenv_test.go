package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/local/cluster"
	"github.com/smp/delivery/internal/local/promserver"
	"github.com/smp/delivery/internal/testkit/pagetest"
	"github.com/smp/delivery/internal/testkit/testctx"
	"github.com/smp/delivery/internal/testkit/testimage"
	"github.com/smp/delivery/internal/verify/smoke"
)

// TestLocalEnvironmentEndToEnd runs the daemon in-process with a real
// registry, Prometheus, MariaDB and git remote, and walks a change through
// dev (automated), staging (manual sync) and prod (blue/green).
func TestLocalEnvironmentEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prefix := fmt.Sprintf("le%d_", os.Getpid())
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, Options{Dir: dir, DBPrefix: prefix, PollInterval: 100 * time.Millisecond})
	}()
	t.Cleanup(func() { dropDatabases(t, prefix, 3) })
	var c *Client
	var st State
	testctx.Eventually(t, 50*time.Millisecond, "the daemon comes up", func() error {
		var err error
		if c, st, err = Connect(dir); err == nil {
			return nil
		}
		select {
		case err := <-served:
			t.Fatalf("daemon exited: %v", err)
		default:
		}
		return err
	})
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(statePath(dir)); !os.IsNotExist(err) {
			t.Error("state.json left behind")
		}
	})

	bins := t.TempDir()
	push := func(v string) string {
		d, err := testimage.Push(ctx, bins, st.Registry+"/smp/order-svc:"+v, v, testimage.ModeOK)
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	v1, v2 := push("1.0.0"), push("2.0.0")
	work := filepath.Join(t.TempDir(), "gitops")
	gitcmdtest.Git(t, "", "clone", "--quiet", st.GitOps, work)
	deploy := func(env, tag, digest string, extra string) {
		// Production names: the runtime pulls through the local registry
		// as a mirror.
		body := fmt.Sprintf("image:\n  repository: ghcr.io/smp/order-svc\n  tag: %s\n  digest: %s\nreplicaCount: 1\n%s", tag, digest, extra)
		if err := os.WriteFile(filepath.Join(work, "environments", env, "order-svc.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		gitcmdtest.Git(t, work, "add", "-A")
		gitcmdtest.Git(t, work, "commit", "--quiet", "-m", "deploy("+env+"): order-svc → "+tag)
		gitcmdtest.Git(t, work, "push", "--quiet", "origin", "HEAD:main")
	}
	svc := func(env string) cluster.ServiceStatus {
		r, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.Runtime.Envs {
			if e.Name == env && len(e.Services) == 1 {
				return e.Services[0]
			}
		}
		return cluster.ServiceStatus{}
	}
	token := filepath.Join(dir, "smoke.jwt")
	tok, err := os.ReadFile(token)
	if err != nil {
		t.Fatal(err)
	}
	smokeOK := func(url, version string) {
		t.Helper()
		res, err := smoke.Run(ctx, smoke.Options{URL: url, Token: strings.TrimSpace(string(tok)), ExpectVersion: version, Wait: testctx.Left(t), Poll: 50 * time.Millisecond})
		if err != nil {
			t.Fatalf("smoke %s for %s: %v %+v", url, version, err, res.Checks)
		}
	}

	deploy("dev", "1.0.0", v1, "")
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	testctx.Eventually(t, 50*time.Millisecond, "dev serves order-svc", func() error {
		if svc("dev").URL == "" {
			return errors.New("no URL for order-svc in dev yet")
		}
		return nil
	})
	smokeOK(svc("dev").URL, "1.0.0")

	deploy("staging", "1.0.0", v1, "")
	if s := svc("staging"); s.Active != nil {
		t.Fatalf("staging synced without smpctl sync: %+v", s.Active)
	}
	es, err := c.Sync(ctx, "staging")
	if err != nil || es.SyncStatus != cluster.SyncSynced {
		t.Fatalf("sync staging: %v %+v", err, es)
	}
	smokeOK(svc("staging").URL, "1.0.0")

	bg := "strategy: blueGreen\nblueGreen:\n  scaleDownDelaySeconds: 60\n"
	deploy("prod", "1.0.0", v1, bg)
	if _, err := c.Sync(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	deploy("prod", "2.0.0", v2, bg)
	if _, err := c.Sync(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	p := svc("prod")
	smokeOK(p.PreviewURL, "2.0.0")
	smokeOK(p.URL, "1.0.0")
	// The dashboard's cell says what the runtime runs, as status --local
	// does: 2.0.0 on the preview, waiting for promotion.
	dashboardShows(t, st.Dashboard, "prod", "Synced · Paused Paused (paused)", "preview", "awaiting promote")
	if err := c.Rollout(ctx, "prod", "order-svc", "promote"); err != nil {
		t.Fatal(err)
	}
	smokeOK(p.URL, "2.0.0")
	// After a promotion there is nothing to abort (as with Argo Rollouts):
	// a refusal, and 2.0.0 keeps serving.
	err = c.Rollout(ctx, "prod", "order-svc", "abort")
	var le *Error
	if !errors.As(err, &le) || le.Input {
		t.Errorf("abort after promotion: %v, want a refusal", err)
	}
	smokeOK(p.URL, "2.0.0")
	// The rollback commit switches back to 1.0.0, still running.
	deploy("prod", "1.0.0", v1, bg)
	if _, err := c.Sync(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	smokeOK(p.URL, "1.0.0")
	if err := c.Rollout(ctx, "qa", "order-svc", "promote"); !errors.As(err, &le) || !le.Input {
		t.Errorf("unknown env: %v, want bad input", err)
	}

	// The local environment serves the dashboard of its smp-gitops: prod's
	// cell shows the rollback to 1.0.0, which the runtime runs.
	dashboardShows(t, st.Dashboard, "prod", "1.0.0", "Synced · Healthy Healthy")

	// Prometheus scrapes every replica with its env and version.
	prom := &promserver.Server{URL: st.Prometheus}
	if err := prom.WaitTargets(ctx, 3, map[string]string{"service": "order-svc", "version": "1.0.0"}); err != nil {
		t.Error(err)
	}
}

// dashboardShows waits until the matrix of the dashboard at url shows each
// of want in order-svc's cell of env.
func dashboardShows(t *testing.T, url, env string, want ...string) {
	t.Helper()
	testctx.Eventually(t, 100*time.Millisecond, fmt.Sprintf("the dashboard's %s cell shows %q", env, want), func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		page, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		doc := pagetest.Parse(t, string(page))
		matrix := pagetest.ByID(doc, "matrix")
		if matrix == nil || pagetest.ByID(doc, "s-order-svc") == nil {
			return fmt.Errorf("no order-svc row on the page:\n%.2000s", page)
		}
		cells := pagetest.Row(t, doc, "s-order-svc")
		heads := pagetest.All(matrix, "th")
		for i := 1; i < len(cells) && i < len(heads); i++ {
			if pagetest.Text(heads[i]) != env {
				continue
			}
			for _, w := range want {
				if !strings.Contains(cells[i], w) {
					return fmt.Errorf("cell %q does not say %q", cells[i], w)
				}
			}
			return nil
		}
		return fmt.Errorf("no %s column in %q", env, cells)
	})
}

// dropDatabases drops the databases the daemon made and checks it made
// want of them, one per environment and service.
func dropDatabases(t testing.TB, prefix string, want int) {
	// It runs as a cleanup, after t's context ended: the binary's deadline bounds it.
	ctx, cancel := testctx.Main()
	defer cancel()
	names, err := cluster.Database{Addr: "127.0.0.1:3306", Prefix: prefix}.DropAll(ctx)
	if err != nil {
		t.Error(err)
	}
	if len(names) != want {
		t.Errorf("databases %v: want %d, one per environment and service", names, want)
	}
}
