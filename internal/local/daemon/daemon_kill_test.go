//go:build linux

package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/testkit/proctest"
	"github.com/smp/delivery/internal/testkit/testctx"
	"github.com/smp/delivery/internal/testkit/testimage"
)

// TestMain doubles as the daemon of TestKilledDaemonTakesItsChildrenWithIt:
// with LOCALENV_TEST_DAEMON=DIR the test binary is `smpctl local daemon`
// (Serve until SIGTERM), so the test runs a real daemon process without
// building smpctl.
func TestMain(m *testing.M) {
	if dir := os.Getenv("LOCALENV_TEST_DAEMON"); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := Serve(ctx, Options{Dir: dir, DBPrefix: os.Getenv("LOCALENV_TEST_PREFIX"), PollInterval: 100 * time.Millisecond})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "daemon:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// procStat returns a process's command name, state and parent pid from
// /proc/PID/stat; ok is false when the process does not exist.
func procStat(pid int) (comm, state string, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", 0, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	f := strings.Fields(s[end+1:])
	if open < 0 || len(f) < 2 {
		return "", "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return s[open+1 : end], f[0], ppid, true
}

// children returns the daemon's Prometheus and its service replicas (the
// processes whose working folder is a run folder of the runtime), leaving
// out its short git calls and the migration step (`server migrate up`,
// which runs in the same folder and ends by itself: counted as the
// service, the test could pass without a replica ever dying).
func children(t *testing.T, daemon int, dir string) (prom []int, services []int) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runtime", "run") + string(filepath.Separator)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _, ppid, ok := procStat(pid)
		if !ok || ppid != daemon || !proctest.Alive(pid) {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		switch {
		case comm == "prometheus":
			prom = append(prom, pid)
		case strings.HasPrefix(cwd, runs):
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if args := strings.Split(string(cmdline), "\x00"); len(args) > 1 && args[1] == "migrate" {
				continue
			}
			services = append(services, pid)
		}
	}
	return prom, services
}

// TestKilledDaemonTakesItsChildrenWithIt: a daemon SIGKILLed (no chance to
// stop anything) must not leave Prometheus or a service running.
func TestKilledDaemonTakesItsChildrenWithIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Whatever the fix fails to kill is killed here, not left running.
	t.Cleanup(func() { proctest.KillUnder(dir) })
	prefix := fmt.Sprintf("lk%d_", os.Getpid())
	t.Cleanup(func() { dropDatabases(t, prefix, 1) })
	ctx := testctx.New(t)
	env := append(os.Environ(), "LOCALENV_TEST_DAEMON="+dir, "LOCALENV_TEST_PREFIX="+prefix)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	st, started, err := Up(ctx, dir, self, []string{"-test.run=^$"}, env)
	if err != nil || !started {
		t.Fatalf("up: started %v, %v", started, err)
	}
	c, err := newClient(dir, st)
	if err != nil {
		t.Fatal(err)
	}
	checkControlAPIGuard(t, dir, st)

	// One service in dev, which syncs itself.
	digest, err := testimage.Push(ctx, t.TempDir(), st.Registry+"/smp/order-svc:1.0.0", "1.0.0", testimage.ModeOK)
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(t.TempDir(), "gitops")
	gitcmdtest.Git(t, "", "clone", "--quiet", st.GitOps, work)
	body := fmt.Sprintf("image:\n  repository: ghcr.io/smp/order-svc\n  tag: 1.0.0\n  digest: %s\nreplicaCount: 1\n", digest)
	if err := os.WriteFile(filepath.Join(work, "environments", "dev", "order-svc.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, work, "add", "-A")
	gitcmdtest.Git(t, work, "commit", "--quiet", "-m", "deploy(dev): order-svc → 1.0.0")
	gitcmdtest.Git(t, work, "push", "--quiet", "origin", "HEAD:main")
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var prom, services []int
	testctx.Eventually(t, 100*time.Millisecond, "the daemon runs one Prometheus and one service", func() error {
		if prom, services = children(t, st.PID, dir); len(prom) == 1 && len(services) == 1 {
			return nil
		}
		return fmt.Errorf("the daemon (pid %d) runs Prometheus %v and services %v, want one of each; see %s", st.PID, prom, services, filepath.Join(dir, "daemon.log"))
	})

	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	left := append(prom, services...)
	testctx.Eventually(t, 50*time.Millisecond, "the daemon's children die with it", func() error {
		var still []int
		for _, pid := range left {
			if proctest.Alive(pid) {
				still = append(still, pid)
			}
		}
		if left = still; len(left) > 0 {
			return fmt.Errorf("after the daemon was SIGKILLed its children %v still run (Prometheus %v, services %v)", left, prom, services)
		}
		return nil
	})
}

// checkControlAPIGuard: another local user (no token), a browser page
// (Origin, Sec-Fetch-Site) and a DNS-rebinding page (another Host) are
// refused by the control API, and the token is readable by its owner only.
func checkControlAPIGuard(t *testing.T, dir string, st State) {
	t.Helper()
	fi, err := os.Stat(tokenPath(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control token: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	token, err := os.ReadFile(tokenPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		header map[string]string
		host   string
		want   int
	}{
		"no token (another local user)":  {nil, "", http.StatusUnauthorized},
		"a wrong token":                  {map[string]string{"Authorization": "Bearer nope"}, "", http.StatusUnauthorized},
		"a cross-origin browser request": {map[string]string{"Authorization": "Bearer " + string(token), "Origin": "http://evil.example"}, "", http.StatusForbidden},
		"a same-site fetch from a page":  {map[string]string{"Authorization": "Bearer " + string(token), "Sec-Fetch-Site": "same-site"}, "", http.StatusForbidden},
		"another host name (rebinding)":  {map[string]string{"Authorization": "Bearer " + string(token)}, "evil.example:80", http.StatusForbidden},
		"the owner's CLI":                {map[string]string{"Authorization": "Bearer " + string(token)}, "", http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodGet, st.Control+"/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", name, resp.Status, tc.want)
		}
	}
	// A shutdown without the token does not stop the daemon.
	resp, err := http.Post(st.Control+"/shutdown", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("shutdown without the token: %s", resp.Status)
	}
	if err := syscall.Kill(st.PID, 0); err != nil {
		t.Errorf("the daemon stopped on a request without the token: %v", err)
	}
}
