package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// env is one environment: the Applications of apps/<env>-apps.yaml.
type env struct {
	rt   *Runtime
	name string

	syncMu sync.Mutex // one sync at a time

	mu        sync.Mutex
	spec      *EnvSpec
	services  map[string]*service
	synced    string    // revision of the last complete sync
	attempted string    // revision of the last sync attempt
	syncErr   string    // why the last sync did not complete
	retryAt   time.Time // next automated retry after a failure
	backoff   time.Duration
	syncedAt  time.Time
}

func (e *env) setSpec(s *EnvSpec) {
	e.mu.Lock()
	e.spec = s
	e.mu.Unlock()
}

func (e *env) automated() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spec != nil && e.spec.Automated
}

// due reports whether an automated sync should run for rev: a new
// revision, or a failed one whose retry time has come.
func (e *env) due(rev string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.attempted != rev {
		return true
	}
	return e.syncErr != "" && !e.retryAt.IsZero() && time.Now().After(e.retryAt)
}

// sync reconciles every service of the environment to snap. Services are
// synced one after the other in name order, as Argo CD's sync waves of
// equal weight would be; services git no longer lists are pruned.
func (e *env) sync(ctx context.Context, snap *Snapshot, force bool) (bool, error) {
	if !e.syncMu.TryLock() {
		if !force {
			return false, nil
		}
		e.syncMu.Lock()
	}
	defer e.syncMu.Unlock()
	spec := snap.Envs[e.name]
	if spec == nil {
		spec = &EnvSpec{Name: e.name}
	}
	e.mu.Lock()
	e.attempted = snap.Revision
	e.mu.Unlock()
	names := make([]string, 0, len(spec.Services))
	for n := range spec.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		s, err := e.serviceFor(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.reconcile(ctx, spec.Services[n], force); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	e.prune(spec)
	err := errors.Join(errs...)
	e.mu.Lock()
	if err != nil {
		e.syncErr = err.Error()
		if e.backoff == 0 {
			e.backoff = e.rt.cfg.RetryBackoff
		} else {
			e.backoff = min(2*e.backoff, time.Minute)
		}
		e.retryAt = time.Now().Add(e.backoff)
	} else {
		e.synced, e.syncErr, e.backoff, e.retryAt, e.syncedAt = snap.Revision, "", 0, time.Time{}, time.Now()
	}
	e.mu.Unlock()
	e.rt.notify()
	if err != nil {
		return true, fmt.Errorf("sync %s at %s: %w", e.name, short(snap.Revision), err)
	}
	return true, nil
}

func (e *env) serviceFor(name string) (*service, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.services[name]; s != nil {
		return s, nil
	}
	s, err := newService(e, name)
	if err != nil {
		return nil, err
	}
	e.services[name] = s
	return s, nil
}

func (e *env) prune(spec *EnvSpec) {
	e.mu.Lock()
	var gone []*service
	for n, s := range e.services {
		if _, ok := spec.Services[n]; !ok {
			gone = append(gone, s)
			delete(e.services, n)
		}
	}
	e.mu.Unlock()
	for _, s := range gone {
		s.close()
	}
}

func (e *env) close() {
	e.mu.Lock()
	svcs := make([]*service, 0, len(e.services))
	for _, s := range e.services {
		svcs = append(svcs, s)
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Add(1)
		go func() { defer wg.Done(); s.close() }()
	}
	wg.Wait()
}

// Status is what runs, per environment.
type Status struct {
	Head   string      `json:"head"`
	Error  string      `json:"error,omitempty"` // reading git
	Envs   []EnvStatus `json:"environments"`
	Checks time.Time   `json:"at"`
}

// EnvStatus is one environment.
type EnvStatus struct {
	Name           string          `json:"name"`
	Sync           string          `json:"sync"` // automated | manual
	SyncStatus     string          `json:"syncStatus"`
	SyncedRevision string          `json:"syncedRevision,omitempty"`
	SyncedAt       *time.Time      `json:"syncedAt,omitempty"`
	SyncError      string          `json:"syncError,omitempty"`
	Services       []ServiceStatus `json:"services"`
}

// Sync statuses.
const (
	SyncSynced    = "Synced"
	SyncOutOfSync = "OutOfSync"
)

func (e *env) status() EnvStatus {
	e.mu.Lock()
	st := EnvStatus{Name: e.name, Sync: "manual", SyncedRevision: e.synced, SyncError: e.syncErr}
	if e.spec != nil && e.spec.Automated {
		st.Sync = "automated"
	}
	if !e.syncedAt.IsZero() {
		t := e.syncedAt
		st.SyncedAt = &t
	}
	names := make([]string, 0, len(e.services))
	for n := range e.services {
		names = append(names, n)
	}
	sort.Strings(names)
	svcs := make([]*service, len(names))
	for i, n := range names {
		svcs[i] = e.services[n]
	}
	e.mu.Unlock()
	e.rt.mu.Lock()
	head := e.rt.head
	e.rt.mu.Unlock()
	st.SyncStatus = SyncSynced
	if head != "" && st.SyncedRevision != head {
		st.SyncStatus = SyncOutOfSync
	}
	for _, s := range svcs {
		st.Services = append(st.Services, s.status())
	}
	return st
}

// Status reports every environment.
func (rt *Runtime) Status() Status {
	rt.mu.Lock()
	st := Status{Head: rt.head, Checks: time.Now()}
	if rt.snapEr != nil {
		st.Error = rt.snapEr.Error()
	}
	rt.mu.Unlock()
	for _, n := range rt.envNames() {
		if e := rt.env(n); e != nil {
			st.Envs = append(st.Envs, e.status())
		}
	}
	return st
}

// Target is one scrape target: a replica with its labels (Prometheus
// file_sd format).
type Target struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Targets lists every running replica for Prometheus, labelled with env,
// service, version and digest, so gates can compare versions.
func (rt *Runtime) Targets() []Target {
	var out []Target
	for _, n := range rt.envNames() {
		e := rt.env(n)
		if e == nil {
			continue
		}
		e.mu.Lock()
		svcs := make([]*service, 0, len(e.services))
		for _, s := range e.services {
			svcs = append(svcs, s)
		}
		e.mu.Unlock()
		for _, s := range svcs {
			// A revision's spec is rewritten under s.mu (reconcile), so
			// copy it while holding the lock.
			s.mu.Lock()
			revs := []*revision{s.active, s.pending, s.previous}
			specs := make([]ServiceSpec, len(revs))
			for i, v := range revs {
				if v != nil {
					specs[i] = v.spec
				}
			}
			s.mu.Unlock()
			for i, v := range revs {
				if v == nil {
					continue
				}
				spec := specs[i]
				var addrs []string
				for _, r := range v.list() {
					addrs = append(addrs, r.addr)
				}
				if len(addrs) == 0 {
					continue
				}
				out = append(out, Target{Targets: addrs, Labels: map[string]string{
					"env": n, "service": s.name, "version": spec.Tag, "digest": shortDigest(spec.Digest),
				}})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Targets[0] < out[j].Targets[0] })
	return out
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func multi(ws ...io.Writer) io.Writer { return io.MultiWriter(ws...) }
