package daemon

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/testkit/proctest"
	"github.com/smp/delivery/internal/testkit/testimage"
)

// vmHWM reads a process's peak resident set size in bytes.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

// BenchmarkDaemonRSS measures the local daemon's own peak memory (smpctl
// local daemon: registry, runtime, proxies, control API — not the services
// it runs, not Prometheus) with 3 environments × 2 services running and
// 2000 requests sent through the proxies. Run with -benchtime 1x.
func BenchmarkDaemonRSS(b *testing.B) {
	ctx := context.Background()
	tmp := b.TempDir()
	smpctl := filepath.Join(tmp, "smpctl")
	build := exec.Command("go", "build", "-o", smpctl, "github.com/smp/delivery/cmd/smpctl")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build smpctl: %v\n%s", err, out)
	}
	prefix := fmt.Sprintf("rss%d_", os.Getpid())
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(tmp, fmt.Sprintf("smp%d", i))
		// The daemon names databases smp_<svc>_<env>; the services get
		// this run's prefix in their names to stay clear of anything real.
		st, _, err := Up(ctx, dir, smpctl, []string{"local", "daemon", "--dir", dir}, os.Environ())
		if err != nil {
			b.Fatal(err)
		}
		// A failure below must not leave the daemon running, with its
		// Prometheus and services: it keeps restarting them. Down stops
		// them; whatever it could not stop is killed (cleanups run last
		// first).
		b.Cleanup(func() { proctest.KillUnder(dir) })
		down := sync.OnceValue(func() error { _, err := Down(context.WithoutCancel(ctx), dir, false); return err })
		b.Cleanup(func() { _ = down() })
		c, err := newClient(dir, st)
		if err != nil {
			b.Fatal(err)
		}
		work := filepath.Join(tmp, fmt.Sprintf("gitops%d", i))
		gitcmdtest.Git(b, "", "clone", "--quiet", st.GitOps, work)
		svcs := []string{prefix + "a", prefix + "b"}
		for _, svc := range svcs {
			svc = strings.ReplaceAll(svc, "_", "-")
			d, err := testimage.Push(ctx, tmp, st.Registry+"/smp/"+svc+":1.0.0", "1.0.0", testimage.ModeOK)
			if err != nil {
				b.Fatal(err)
			}
			for _, env := range []string{"dev", "staging", "prod"} {
				body := fmt.Sprintf("image:\n  repository: ghcr.io/smp/%s\n  tag: 1.0.0\n  digest: %s\nreplicaCount: 1\n", svc, d)
				if err := os.WriteFile(filepath.Join(work, "environments", env, svc+".yaml"), []byte(body), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
		gitcmdtest.Git(b, work, "add", "-A")
		gitcmdtest.Git(b, work, "commit", "--quiet", "-m", "deploy: two services everywhere")
		gitcmdtest.Git(b, work, "push", "--quiet", "origin", "HEAD:main")
		for _, env := range []string{"dev", "staging", "prod"} {
			if _, err := c.Sync(ctx, env); err != nil {
				b.Fatal(err)
			}
		}
		r, err := c.Status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, e := range r.Runtime.Envs {
			for _, s := range e.Services {
				if s.Health != "Healthy" {
					b.Fatalf("%s/%s: %s %s", e.Name, s.Name, s.Health, s.Message)
				}
				for j := 0; j < 333; j++ {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/health", nil)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
				}
				n++
			}
		}
		if n != 6 {
			b.Fatalf("%d services running, want 6", n)
		}
		time.Sleep(time.Second)
		rss, err := vmHWM(st.PID)
		if err != nil {
			b.Fatal(err)
		}
		if err := down(); err != nil {
			b.Fatal(err)
		}
		dropDatabases(b, "smp_"+prefix, 6)
		b.ReportMetric(float64(rss)/(1<<20), "maxRSS-MiB")
	}
}
