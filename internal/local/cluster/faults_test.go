package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smp/delivery/internal/testkit/testctx"
	"github.com/smp/delivery/internal/testkit/testimage"
)

// switchable is a TCP forwarder to MariaDB that a test can cut, the way a
// database outage looks from the runtime: connections refused.
type switchable struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newSwitchable(t *testing.T, target string) *switchable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchable{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); s.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if s.down.Load() {
				c.Close()
				continue
			}
			d, err := net.DialTimeout("tcp", target, 2*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			s.mu.Lock()
			s.conns = append(s.conns, c, d)
			s.mu.Unlock()
			go func() { _, _ = io.Copy(d, c); d.Close() }()
			go func() { _, _ = io.Copy(c, d); c.Close() }()
		}
	}()
	return s
}

func (s *switchable) cut() {
	s.down.Store(true)
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
}

// tamperWriter flips one byte in the middle of large blob responses: a
// registry (or a man in the middle) serving other bytes than the digest.
type tamperWriter struct {
	http.ResponseWriter
	n int
}

func (w *tamperWriter) Write(p []byte) (int, error) {
	q := p
	if w.n <= 4096 && w.n+len(p) > 4096 {
		q = bytes.Clone(p)
		q[4096-w.n] ^= 0xff
	}
	w.n += len(p)
	return w.ResponseWriter.Write(q)
}

func TestFaultsKeepThePreviousVersionServing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		inject   func(f *fixture, db *switchable)
		bad      func(f *fixture) string // the digest git will ask for
		step     string
		reason   string
		heal     func(f *fixture, db *switchable)
		recovers bool
	}{
		{
			name:   "registry down mid-sync",
			inject: func(f *fixture, _ *switchable) { f.regOpen.Store(false) },
			bad:    func(f *fixture) string { return f.image("2.0.0", testimage.ModeOK) },
			step:   "pull", reason: "pull ",
			heal:     func(f *fixture, _ *switchable) { f.regOpen.Store(true) },
			recovers: true,
		},
		{
			name:   "digest does not match the content",
			inject: func(f *fixture, _ *switchable) { f.tamper.Store(true) },
			bad:    func(f *fixture) string { return f.image("2.0.0", testimage.ModeOK) },
			step:   "pull", reason: "content does not match its digest",
		},
		{
			name: "binary will not start",
			bad: func(f *fixture) string {
				p := filepath.Join(f.t.TempDir(), "server")
				if err := os.WriteFile(p, []byte("not an executable\n"), 0o755); err != nil {
					f.t.Fatal(err)
				}
				img, err := testimage.Image(p)
				if err != nil {
					f.t.Fatal(err)
				}
				d, err := testimage.PushImage(testctx.New(f.t), img, f.host+"/smp/order-svc:2.0.0")
				if err != nil {
					f.t.Fatal(err)
				}
				return d.String()
			},
			// The migration step is the first to run the binary.
			step: "migrate", reason: "exec format error",
		},
		{
			name:   "MariaDB down during the migration step",
			inject: func(_ *fixture, db *switchable) { db.cut() },
			bad:    func(f *fixture) string { return f.image("2.0.0", testimage.ModeOK) },
			step:   "migrate", reason: "create database",
			heal:     func(_ *fixture, db *switchable) { db.down.Store(false) },
			recovers: true,
		},
		{
			name: "migration fails",
			bad:  func(f *fixture) string { return f.image("2.0.0", testimage.ModeNoMigrate) },
			step: "migrate", reason: "migration 0002 failed",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var db *switchable
			f := newFixture(t, func(c *Config) {
				db = newSwitchable(t, "127.0.0.1:3306")
				c.Database.Addr = db.ln.Addr().String()
			})
			url := func() string { return f.svc("dev").URL }
			v1 := f.image("1.0.0", testimage.ModeOK)
			f.deploy("dev", svcFile{tag: "1.0.0", digest: v1, replicas: 1})
			f.serving(url, "1.0.0")
			bad := tc.bad(f)
			if tc.inject != nil {
				tc.inject(f, db)
			}
			rev := f.deploy("dev", svcFile{tag: "2.0.0", digest: bad, replicas: 1})
			// A failure that can heal is retried every RetryBackoff: while a
			// retry runs the service is Progressing (and still remembers the
			// failure), so wait for a status between two attempts.
			var st ServiceStatus
			eventually(t, "failure reported", func() error {
				st = f.svc("dev")
				if st.Failed == nil || st.Failed.Digest != bad || st.Health != HealthDegraded {
					return fmt.Errorf("status %s %q", st.Health, st.Message)
				}
				return nil
			})
			if st.Failed.Step != tc.step || !strings.Contains(st.Failed.Reason, tc.reason) {
				t.Errorf("failed at %s: %q; want %s, %q", st.Failed.Step, st.Failed.Reason, tc.step, tc.reason)
			}
			if !strings.Contains(st.Message, "1.0.0 keeps serving") {
				t.Errorf("status %s %q", st.Health, st.Message)
			}
			if st.Active == nil || st.Active.Tag != "1.0.0" || st.Preview != nil {
				t.Errorf("half-applied: active %+v preview %+v", st.Active, st.Preview)
			}
			if v, err := version(url()); err != nil || v != "1.0.0" {
				t.Errorf("serving %q, %v; want 1.0.0", v, err)
			}
			for _, tg := range f.rt.Targets() {
				if tg.Labels["version"] == "2.0.0" {
					t.Errorf("a 2.0.0 replica was left running: %v", tg.Targets)
				}
			}
			if e := f.syncFailed("dev"); e.SyncStatus != SyncOutOfSync || e.SyncedRevision == rev {
				t.Errorf("dev: %s synced %s error %q", e.SyncStatus, e.SyncedRevision, e.SyncError)
			}
			if tc.recovers {
				tc.heal(f, db)
				f.serving(url, "2.0.0")
				eventually(t, "healthy after the fault", func() error {
					if st := f.svc("dev"); st.Health != HealthHealthy {
						return errors.New(st.Health + " " + st.Message)
					}
					return nil
				})
			}
		})
	}
}
