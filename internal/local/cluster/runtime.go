// Package cluster is the embedded stand-in for Argo CD, Argo Rollouts and
// Kubernetes on one machine. It reads the GitOps repository (a GitSource),
// and for each environment runs what environments/<env>/<svc>.yaml asks
// for: it pulls the image by digest (an ImageSource), verifies it, extracts
// the entrypoint binary, runs the migration step from the new image
// (`server migrate up`, the pre-sync hook), starts replicaCount processes on
// free 127.0.0.1 ports and puts them behind a per-service reverse proxy —
// one stable URL per environment, plus a preview URL for blue/green.
//
// Environments whose apps/<env>-apps.yaml asks for automated sync follow
// every new commit by themselves; the others wait for Sync (smpctl sync).
// Rolling updates start the new replicas, wait for /ready, shift traffic,
// drain and stop the old ones. Blue/green puts the new version on the
// preview URL only; Promote swaps, the old version stays up
// scaleDownDelaySeconds; Abort drops a preview that was not promoted. As with
// Argo Rollouts, the way back after a promotion is git: a commit that asks
// for the previous version again makes it active at once while it still runs
// (no preview, no pause). Crashed processes restart
// with backoff and are reported CrashLoopBackOff after CrashLoopRestarts
// restarts. A rollout that fails at any step (registry down, digest
// mismatch, migration failed, binary does not start) leaves the previous
// version serving, and Status says why.
package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/smp/delivery/internal/local/childproc"
)

// Config configures a Runtime. Zero durations take the defaults named.
type Config struct {
	// Dir holds run folders and logs.
	Dir string
	// Git is the GitOps repository.
	Git GitSource
	// Images pulls images.
	Images ImageSource
	// Database is the local MySQL-compatible server; empty Addr means
	// services get no MYSQL_DSN and no migration step runs.
	Database Database
	// Redis is the local Redis; empty Addr means services get none.
	Redis Redis
	// ServiceEnv adds configuration for a service in an environment
	// (JWT settings), as the chart's ConfigMap and Secrets do.
	ServiceEnv func(env, svc string) []string
	// OnChange is called (from one goroutine, coalesced) whenever replicas
	// start, stop or change readiness: e.g. to rewrite scrape targets.
	OnChange func()
	// Logger; default discards.
	Logger *slog.Logger

	PollInterval      time.Duration // how often the head of git is read; default 1s
	ReadyTimeout      time.Duration // new replicas must be ready within; default 60s
	ReadyPoll         time.Duration // /ready polling interval; default 50ms
	DrainTimeout      time.Duration // wait for in-flight requests; default 10s
	StopGrace         time.Duration // SIGTERM → SIGKILL; default 10s
	MigrateTimeout    time.Duration // migration step; default 2m
	RestartBackoff    time.Duration // first restart delay; default 200ms
	MaxRestartBackoff time.Duration // default 10s
	RetryBackoff      time.Duration // first retry of a failed automated sync; default 2s
	CrashLoopRestarts int           // restarts before CrashLoopBackOff; default 3
}

// Database says where each environment's database lives.
type Database struct {
	Addr string // host:port
	User string // default root
	// Prefix of database names: <prefix><svc>_<env>, '-' → '_'. Default smp_.
	Prefix string
}

// Name is the database of svc in env.
func (d Database) Name(env, svc string) string {
	p := d.Prefix
	if p == "" {
		p = "smp_"
	}
	return strings.ReplaceAll(p+svc+"_"+env, "-", "_")
}

// DSN is the go-sql-driver DSN of database db.
func (d Database) DSN(db string) string {
	c := mysql.NewConfig()
	c.User = d.User
	if c.User == "" {
		c.User = "root"
	}
	c.Net, c.Addr, c.DBName = "tcp", d.Addr, db
	c.ParseTime = true
	c.Timeout = 5 * time.Second
	return c.FormatDSN()
}

// DropAll drops every database whose name starts with Prefix (local down
// --purge, and tests cleaning up after themselves) and returns their names.
// An empty Prefix is refused: it would mean every smp_ database of the
// server, not one environment's.
func (d Database) DropAll(ctx context.Context) ([]string, error) {
	if d.Prefix == "" {
		return nil, errors.New("drop databases: no prefix given")
	}
	db, err := sql.Open("mysql", d.DSN(""))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// '_' is a LIKE wildcard, and prefixes end with one.
	rows, err := db.QueryContext(ctx, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?", strings.ReplaceAll(d.Prefix, "_", `\_`)+"%")
	if err != nil {
		return nil, fmt.Errorf("list databases %s* on %s: %w", d.Prefix, d.Addr, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list databases %s* on %s: %w", d.Prefix, d.Addr, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list databases %s* on %s: %w", d.Prefix, d.Addr, err)
	}
	for i, n := range names {
		if _, err := db.ExecContext(ctx, "DROP DATABASE `"+strings.ReplaceAll(n, "`", "``")+"`"); err != nil {
			return names[:i], fmt.Errorf("drop database %s: %w", n, err)
		}
	}
	return names, nil
}

// Redis says where each environment's keys live: a db number per
// environment (its index in promotion order + 1 + Base) and a key prefix.
type Redis struct {
	Addr   string
	Base   int    // added to the environment's db number
	Prefix string // before "<env>:<svc>:"
}

func (r Redis) db(envIndex int) int { return r.Base + envIndex + 1 }

func (c *Config) defaults() error {
	if c.Dir == "" || c.Git == nil || c.Images == nil {
		return errors.New("runtime: Dir, Git and Images are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.PollInterval, time.Second)
	def(&c.ReadyTimeout, 60*time.Second)
	def(&c.ReadyPoll, 50*time.Millisecond)
	def(&c.DrainTimeout, 10*time.Second)
	def(&c.StopGrace, 10*time.Second)
	def(&c.MigrateTimeout, 2*time.Minute)
	def(&c.RestartBackoff, 200*time.Millisecond)
	def(&c.MaxRestartBackoff, 10*time.Second)
	def(&c.RetryBackoff, 2*time.Second)
	if c.CrashLoopRestarts == 0 {
		c.CrashLoopRestarts = 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Runtime runs the environments of one GitOps repository.
type Runtime struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	envs   map[string]*env
	order  []string
	head   string
	snap   *Snapshot
	snapEr error
	closed bool

	changed chan struct{}
	wake    chan struct{}
	done    chan struct{}
}

// New returns a runtime; Run starts its loop.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	rt := &Runtime{cfg: cfg, log: cfg.Logger, envs: map[string]*env{}, changed: make(chan struct{}, 1), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go rt.changes()
	return rt, nil
}

func (rt *Runtime) notify() {
	select {
	case rt.changed <- struct{}{}:
	default:
	}
}

func (rt *Runtime) changes() {
	for {
		select {
		case <-rt.done:
			return
		case <-rt.changed:
			if rt.cfg.OnChange != nil {
				rt.cfg.OnChange()
			}
		}
	}
}

// Refresh asks the loop to read git now (a webhook, in Argo CD's terms).
func (rt *Runtime) Refresh() {
	select {
	case rt.wake <- struct{}{}:
	default:
	}
}

// Run follows git until ctx ends: it reads the head every PollInterval (or
// on Refresh), and syncs automated environments to every new commit,
// retrying a failed sync with backoff. It returns ctx's error.
func (rt *Runtime) Run(ctx context.Context) error {
	t := time.NewTicker(rt.cfg.PollInterval)
	defer t.Stop()
	for {
		rt.poll(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-rt.wake:
		}
	}
}

func (rt *Runtime) poll(ctx context.Context) {
	snap, err := rt.refresh(ctx)
	if err != nil && snap == nil {
		rt.log.Warn("read git", "err", err)
		return
	}
	for _, name := range rt.envNames() {
		e := rt.env(name)
		if e == nil || !e.automated() || !e.due(snap.Revision) {
			continue
		}
		go func() { _, _ = e.sync(ctx, snap, false) }()
	}
}

// refresh reads the head and, when it moved, the snapshot at it.
func (rt *Runtime) refresh(ctx context.Context) (*Snapshot, error) {
	head, err := rt.cfg.Git.Head(ctx)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	if head == rt.head && rt.snap != nil {
		snap, serr := rt.snap, rt.snapEr
		rt.mu.Unlock()
		return snap, serr
	}
	rt.mu.Unlock()
	snap, serr := rt.cfg.Git.Read(ctx, head)
	if snap == nil {
		return nil, serr
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil, errors.New("runtime closed")
	}
	rt.head, rt.snap, rt.snapEr = head, snap, serr
	names := make([]string, 0, len(snap.Envs))
	for n := range snap.Envs {
		names = append(names, n)
	}
	// Keep delivery.yaml's order for known environments; new ones after.
	sort.SliceStable(names, func(i, j int) bool { return rt.rank(names[i]) < rt.rank(names[j]) })
	for _, n := range names {
		if _, ok := rt.envs[n]; !ok {
			rt.envs[n] = &env{rt: rt, name: n, services: map[string]*service{}}
			rt.order = append(rt.order, n)
		}
		rt.envs[n].setSpec(snap.Envs[n])
	}
	return snap, serr
}

func (rt *Runtime) rank(name string) int {
	for i, n := range []string{"dev", "staging", "prod"} {
		if n == name {
			return i
		}
	}
	return 3
}

func (rt *Runtime) envNames() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.order...)
}

func (rt *Runtime) env(name string) *env {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.envs[name]
}

func (rt *Runtime) envIndex(name string) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for i, n := range rt.order {
		if n == name {
			return i
		}
	}
	return len(rt.order)
}

// Load reads the head of git and the environments it defines, once, so
// Status knows them before the first poll.
func (rt *Runtime) Load(ctx context.Context) error {
	_, err := rt.refresh(ctx)
	return err
}

// Sync syncs env to the head of git now, whatever its sync policy (an
// `argocd app sync`), and waits for it. It returns the environment's
// status afterwards and an error naming every service that failed.
func (rt *Runtime) Sync(ctx context.Context, envName string) (EnvStatus, error) {
	snap, err := rt.refresh(ctx)
	if snap == nil {
		return EnvStatus{}, fmt.Errorf("sync %s: %w", envName, err)
	}
	e := rt.env(envName)
	if e == nil {
		return EnvStatus{}, fmt.Errorf("sync %s: %w (environments: %s)", envName, ErrUnknownEnv, strings.Join(rt.envNames(), ", "))
	}
	serr := err
	_, err = e.sync(ctx, snap, true)
	return e.status(), errors.Join(err, serr)
}

// Promote swaps the blue/green pair of svc in env.
func (rt *Runtime) Promote(envName, svc string) error {
	s, err := rt.service(envName, svc)
	if err != nil {
		return err
	}
	return s.promote()
}

// Abort stops the blue/green update of svc in env that waits for promotion:
// the preview goes, active keeps serving. After a promotion it refuses
// (ErrNothingToAbort), as the real controller has nothing to abort then.
func (rt *Runtime) Abort(envName, svc string) error {
	s, err := rt.service(envName, svc)
	if err != nil {
		return err
	}
	return s.abort()
}

func (rt *Runtime) service(envName, svc string) (*service, error) {
	e := rt.env(envName)
	if e == nil {
		return nil, fmt.Errorf("%w %q (environments: %s)", ErrUnknownEnv, envName, strings.Join(rt.envNames(), ", "))
	}
	e.mu.Lock()
	s := e.services[svc]
	e.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("%w %q in %s", ErrUnknownService, svc, envName)
	}
	return s, nil
}

// Close stops every process and proxy.
func (rt *Runtime) Close() {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return
	}
	rt.closed = true
	envs := make([]*env, 0, len(rt.envs))
	for _, e := range rt.envs {
		envs = append(envs, e)
	}
	rt.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range envs {
		wg.Add(1)
		go func() { defer wg.Done(); e.close() }()
	}
	wg.Wait()
	close(rt.done)
}

// migrate is the pre-sync hook: create the environment's database if it
// does not exist, then run `<binary> migrate up` from the new image with the
// configuration the service will get.
func (rt *Runtime) migrate(ctx context.Context, v *revision) error {
	if rt.cfg.Database.Addr == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, rt.cfg.MigrateTimeout)
	defer cancel()
	if err := rt.ensureDatabase(ctx, rt.cfg.Database.Name(v.svc.env.name, v.svc.name)); err != nil {
		return err
	}
	logf, err := rt.logFile(v.svc.env.name, v.svc.name, v.label()+"-migrate")
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, v.bin, "migrate", "up")
	cmd.Env = v.environ()
	cmd.Dir = v.dir
	tail := &tailBuffer{max: 2048}
	cmd.Stdout = multi(logf, tail)
	cmd.Stderr = cmd.Stdout
	// A migration is killed with its runtime too.
	err = childproc.Start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return fmt.Errorf("%s migrate up: %w: %s", v.label(), err, strings.TrimSpace(tail.String()))
	}
	return nil
}

func (rt *Runtime) ensureDatabase(ctx context.Context, name string) error {
	db, err := sql.Open("mysql", rt.cfg.Database.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	// The name is built from DNS-label names with '-' replaced, so it is
	// safe inside backquotes.
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"`"); err != nil {
		return fmt.Errorf("create database %s on %s: %w (is MariaDB up? scripts/tools.sh services)", name, rt.cfg.Database.Addr, err)
	}
	return nil
}

func (rt *Runtime) logPath(env, svc, name string) string {
	return filepath.Join(rt.cfg.Dir, "logs", env, svc, name+".log")
}

func (rt *Runtime) logFile(env, svc, name string) (*os.File, error) {
	p := rt.logPath(env, svc, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}
