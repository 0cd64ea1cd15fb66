package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smp/order-svc/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestUsage(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, exitOK, "order-svc dev (commit unknown)\n", ""},
		{[]string{"help"}, exitOK, usage, ""},
		{[]string{"deploy"}, exitUsage, "", `unknown command "deploy"`},
		{[]string{"serve", "now"}, exitUsage, "", "serve takes no arguments"},
		{[]string{"migrate"}, exitUsage, "", "migrate needs a subcommand"},
		{[]string{"migrate", "sideways"}, exitUsage, "", `unknown migrate subcommand "sideways"`},
		{[]string{"migrate", "up", "2"}, exitUsage, "", "migrate up takes no arguments"},
		{[]string{"migrate", "down"}, exitUsage, "", "migrate down needs exactly one number"},
		{[]string{"migrate", "down", "0"}, exitUsage, "", `migrate down: "0" is not a valid number`},
		{[]string{"migrate", "force", "-2"}, exitUsage, "", `migrate force: "-2" is not a valid number`},
		{[]string{"migrate", "up"}, exitUsage, "", "MYSQL_DSN: is required"},
		{[]string{}, exitUsage, "", "JWT_SECRET: is required"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, getenv(nil), &out, &errb)
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %s)", code, c.code, errb.String())
			}
			if c.stdout != "" && out.String() != c.stdout {
				t.Errorf("stdout %q, want %q", out.String(), c.stdout)
			}
			if !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), c.stderr)
			}
		})
	}
}

func TestMigrateCommands(t *testing.T) {
	d := testenv.NewDatabase(t)
	env := getenv(map[string]string{"MYSQL_DSN": d.DSN()})
	steps := []struct {
		args []string
		out  string
	}{
		{[]string{"migrate", "version"}, "schema at no migration applied (this binary's latest is 6)\n"},
		{[]string{"migrate", "up"}, "migrate up done: schema at version 6 (this binary's latest is 6)\n"},
		{[]string{"migrate", "up"}, "no change: schema at version 6 (this binary's latest is 6)\n"},
		{[]string{"migrate", "down", "3"}, "migrate down done: schema at version 3 (this binary's latest is 6)\n"},
		{[]string{"migrate", "force", "2"}, "migrate force done: schema at version 2 (this binary's latest is 6)\n"},
		{[]string{"migrate", "force", "3"}, "migrate force done: schema at version 3 (this binary's latest is 6)\n"},
		{[]string{"migrate", "up"}, "migrate up done: schema at version 6 (this binary's latest is 6)\n"},
	}
	for _, s := range steps {
		var out, errb bytes.Buffer
		if code := run(context.Background(), s.args, env, &out, &errb); code != exitOK {
			t.Fatalf("%v: exit %d: %s", s.args, code, errb.String())
		}
		if out.String() != s.out {
			t.Errorf("%v: stdout %q, want %q", s.args, out.String(), s.out)
		}
	}
	var n int
	if err := d.DB.QueryRow("SELECT COUNT(*) FROM services WHERE base_price_vnd > 0").Scan(&n); err != nil || n != 6 {
		t.Errorf("services after migrate up: %d, %v", n, err)
	}

	// A dirty schema is reported with how to recover.
	if _, err := d.DB.Exec("UPDATE schema_migrations SET dirty = 1"); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "version"}, env, &out, &errb); code != exitOK || !strings.Contains(out.String(), "dirty") {
		t.Errorf("dirty version: exit %d, %q %q", code, out.String(), errb.String())
	}
	if code := run(context.Background(), []string{"migrate", "up"}, env, &out, &errb); code != exitFailed || !strings.Contains(errb.String(), "Dirty") {
		t.Errorf("up on a dirty schema: exit %d, stderr %q", code, errb.String())
	}
}

func TestMigrateFailsOnAnUnreachableDatabase(t *testing.T) {
	var out, errb bytes.Buffer
	env := getenv(map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:1)/nothing?timeout=500ms"})
	if code := run(context.Background(), []string{"migrate", "up"}, env, &out, &errb); code != exitFailed {
		t.Fatalf("exit %d, want %d: %s", code, exitFailed, errb.String())
	}
	if !strings.Contains(errb.String(), "database nothing at 127.0.0.1:1") {
		t.Errorf("stderr %q does not say which database failed", errb.String())
	}
}

// TestServeDrainsOnShutdown starts the real server, begins a request whose
// body is still uploading, then cancels the context as SIGTERM would: the
// server must report not-ready, still finish the in-flight request, and
// exit cleanly.
func TestServeDrainsOnShutdown(t *testing.T) {
	d := testenv.NewMigratedDatabase(t)
	r := testenv.NewRedis(t)
	// Several environments share one Redis by database number and prefix.
	db5 := redis.NewClient(&redis.Options{Addr: r.Addr, DB: 5})
	t.Cleanup(func() {
		ctx := context.Background()
		for _, k := range db5.Keys(ctx, r.Prefix+"*").Val() {
			db5.Del(ctx, k)
		}
		_ = db5.Close()
	})
	env := getenv(map[string]string{
		"HOST": "127.0.0.1", "PORT": "0", "MYSQL_DSN": d.DSN(), "REDIS_ADDR": "redis://" + r.Addr + "/5", "REDIS_PREFIX": r.Prefix,
		"JWT_SECRET": testenv.Secret, "JWT_ISSUER": testenv.Issuer, "JWT_AUDIENCE": testenv.Audience,
		"SHUTDOWN_DELAY": "5s", "SHUTDOWN_TIMEOUT": "20s",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, env, &out, &errb) }()

	addr := waitForAddr(t, &out, done)
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	mustGet(t, client, base+"/ready", http.StatusOK)
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/catalog/services", nil)
	req.Header.Set("Authorization", "Bearer "+testenv.Token(t, "smoke", ""))
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("catalog: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	if n := db5.Exists(context.Background(), r.Prefix+"catalog:v0:page:1:20").Val(); n != 1 {
		t.Errorf("the catalog page was not cached in Redis database 5 under %q", r.Prefix)
	}

	// Start an echo whose body arrives in two halves.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"in":"flight"}`
	fmt.Fprintf(conn, "POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:5])
	time.Sleep(100 * time.Millisecond)

	cancel() // SIGTERM
	// Within SHUTDOWN_DELAY the listener still answers, with /ready 503:
	// 5 s, so that a loaded machine's stall does not close it first.
	deadline := time.Now().Add(4500 * time.Millisecond)
	for {
		resp, err := client.Get(base + "/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready never turned 503 after shutdown began (last: %v %v)", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if _, err := io.WriteString(conn, body[5:]); err != nil {
		t.Fatal(err)
	}
	inflight, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request dropped: %v", err)
	}
	got, _ := io.ReadAll(inflight.Body)
	if inflight.StatusCode != http.StatusOK || string(got) != body {
		t.Errorf("in-flight echo: %d %s", inflight.StatusCode, got)
	}

	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(time.Until(waitDeadline(t))):
		t.Fatal("server did not stop before the test's deadline")
	}
	logs := out.String()
	for _, want := range []string{`"msg":"shutting down: readiness is now false"`, `"msg":"stopped cleanly"`, `"jwt_secret":"***"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	if strings.Contains(logs, testenv.Secret) {
		t.Error("logs leak the JWT secret")
	}
}

func waitForAddr(t *testing.T, out *syncBuffer, done chan int) string {
	t.Helper()
	deadline := waitDeadline(t)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("server exited %d early: %s", code, out.String())
		default:
		}
		for _, line := range strings.Split(out.String(), "\n") {
			var l struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				_, port, _ := net.SplitHostPort(l.Addr)
				return "127.0.0.1:" + port
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server never logged its address before the test's deadline: %s", out.String())
	return ""
}

// waitDeadline is when a wait for the server gives up: shortly before go
// test's own -timeout (a tenth of what is left, at most a minute, is kept
// to report it), not a fixed guess that a cold or loaded machine overruns.
func waitDeadline(t *testing.T) time.Time {
	d, ok := t.Deadline()
	if !ok {
		return time.Now().Add(time.Hour)
	}
	return d.Add(-min(time.Until(d)/10, time.Minute))
}

func mustGet(t *testing.T, c *http.Client, url string, status int) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET %s = %d, want %d", url, resp.StatusCode, status)
	}
}

func TestServeFailsWhenThePortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	env := getenv(map[string]string{
		"PORT": port, "MYSQL_DSN": "root@tcp(127.0.0.1:1)/x?timeout=200ms", "REDIS_ADDR": "127.0.0.1:1",
		"JWT_SECRET": testenv.Secret, "JWT_ISSUER": "i", "JWT_AUDIENCE": "a", "DB_TIMEOUT": "200ms", "REDIS_TIMEOUT": "200ms",
	})
	// go-redis may still log a dial failure from its pool after run returns.
	var out syncBuffer
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, env, &out, &errb); code != exitFailed {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "listen on port "+port) {
		t.Errorf("stderr %q", errb.String())
	}
	if !strings.Contains(out.String(), "mysql not reachable yet") || !strings.Contains(out.String(), "redis not reachable yet") {
		t.Errorf("unreachable dependencies not logged: %s", out.String())
	}
}
