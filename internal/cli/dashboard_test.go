package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/gitopstest"
)

// lockedBuffer is an io.Writer the command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDashboardServesUntilItsContextEndsThenStopsCleanly(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml":                   "apiVersion: delivery.smp.vn/v1\nkind: Delivery\nservices:\n  - name: order-svc\n",
		"environments/dev/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.2.0\n  digest: sha256:" + strings.Repeat("a", 64) + "\n",
	})
	cache := t.TempDir()
	url, exit, stderr, cancel := serveDashboard(t, "--gitops", "file://"+bare, "--cache-dir", cache)
	defer cancel()
	// The URL is given once the repository is read (its mirror is in the
	// cache): the page a person opens from it does not wait for the read.
	if entries, err := os.ReadDir(cache); err != nil || len(entries) == 0 {
		t.Fatalf("the URL was printed before the repository was read: cache %s holds %d entries (%v)", cache, len(entries), err)
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/$`).MatchString(url) {
		t.Fatalf("listens on %s, want loopback", url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "3.2.0") {
		t.Fatalf("GET %s = %d:\n%s", url, resp.StatusCode, body)
	}

	// An open /events stream does not hold the shutdown up.
	events, err := http.Get(url + "events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	if line, err := bufio.NewReader(events.Body).ReadString('\n'); err != nil || line != "event: head\n" {
		t.Fatalf("first line of /events = %q, %v", line, err)
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Errorf("exit %d after its context ended, want 0; stderr:\n%s", code, stderr.String())
	}
	// The stream was ended by the server: reading it to its end returns.
	_, _ = io.ReadAll(events.Body)
}

// serveDashboard runs `smpctl dashboard args... --listen 127.0.0.1:0` in
// this process until cancel, and returns the URL it says it serves on
// (after checking the line that says so), its exit code's channel and its
// standard error.
func serveDashboard(t *testing.T, args ...string) (url string, exit chan int, stderr *lockedBuffer, cancel context.CancelFunc) {
	t.Helper()
	var stdout lockedBuffer
	stderr = &lockedBuffer{}
	a := &App{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: stderr, Getenv: func(string) string { return "" }, Now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	exit = make(chan int, 1)
	go func() { exit <- a.Run(ctx, append([]string{"dashboard", "--listen", "127.0.0.1:0"}, args...)) }()
	// The command prints where it listens before it serves.
	re := regexp.MustCompile(`^smpctl dashboard: (http://\S+/) \(read-only, from .*; interrupt to stop\)\n$`)
	for url == "" {
		select {
		case code := <-exit:
			cancel()
			t.Fatalf("dashboard exited %d before serving: %s%s", code, stdout.String(), stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		}
	}
	return url, exit, stderr, cancel
}

func TestDashboardLiveFlagsNeedLive(t *testing.T) {
	t.Parallel()
	var stdout, stderr lockedBuffer
	a := &App{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Now: time.Now}
	code := a.Run(context.Background(), []string{"dashboard", "--gitops", t.TempDir(), "--listen", "127.0.0.1:0", "--context", "prod"})
	if code != 2 || !strings.Contains(stderr.String(), "--kubeconfig and --context say which cluster --live reads: add --live") {
		t.Fatalf("dashboard --context without --live: exit %d, want 2\n%s%s", code, stdout.String(), stderr.String())
	}
}

// TestDashboardLocalNeedsARunningEnvironment: --local reads a local
// environment's runtime (the daemon's own dashboard reads the same, in
// internal/local/daemon's TestLocalEnvironmentEndToEnd); without one running
// there, the command says so before it serves. --local and --live name two
// engines: bad input.
func TestDashboardLocalNeedsARunningEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--local", t.TempDir()}, 1, "no local environment is running here"},
		{[]string{"--local", t.TempDir(), "--live"}, 2, "--live reads a cluster, --local the local runtime: give one"},
		{[]string{"--local", t.TempDir(), "--context", "prod"}, 2, "with --local, drop them"},
	} {
		var stdout, stderr lockedBuffer
		a := &App{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Now: time.Now}
		code := a.Run(context.Background(), append([]string{"dashboard", "--gitops", t.TempDir(), "--listen", "127.0.0.1:0"}, tc.args...))
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) || stdout.String() != "" {
			t.Errorf("dashboard %v: exit %d, want %d saying %q\n%s%s", tc.args, code, tc.code, tc.want, stdout.String(), stderr.String())
		}
	}
}
