package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// revision is one version of a service running in an environment: a
// ReplicaSet. Its replicas run the binary extracted from the image.
type revision struct {
	svc      *service
	spec     ServiceSpec
	bin      string
	dir      string
	replicas []*replica
	started  time.Time

	mu          sync.Mutex
	scaleDownAt time.Time
	timer       *time.Timer
}

func (v *revision) label() string {
	if v.spec.Tag != "" {
		return v.spec.Tag
	}
	return shortDigest(v.spec.Digest)
}

func shortDigest(d string) string {
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return "sha256:" + h
}

// environ is the configuration a replica or the migration step gets: the
// environment's own database, Redis db and key prefix, and whatever the
// runtime's owner adds (JWT settings). Nothing leaks in from the runtime's
// own environment but PATH.
func (v *revision) environ() []string {
	rt, env, svc := v.svc.env.rt, v.svc.env.name, v.svc.name
	out := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + v.dir,
		"TMPDIR=" + v.dir,
		"SMP_ENV=" + env,
		"SMP_SERVICE=" + svc,
		"SMP_VERSION=" + v.spec.Tag,
		"HOST=127.0.0.1",
	}
	if rt.cfg.Database.Addr != "" {
		out = append(out, "MYSQL_DSN="+rt.cfg.Database.DSN(rt.cfg.Database.Name(env, svc)))
	}
	if rt.cfg.Redis.Addr != "" {
		db := rt.cfg.Redis.db(rt.envIndex(env))
		out = append(out,
			// The URL form selects the environment's db (go-redis ParseURL).
			fmt.Sprintf("REDIS_ADDR=redis://%s/%d", rt.cfg.Redis.Addr, db),
			fmt.Sprintf("REDIS_DB=%d", db),
			"REDIS_PREFIX="+rt.cfg.Redis.Prefix+env+":"+svc+":",
		)
	}
	if rt.cfg.ServiceEnv != nil {
		out = append(out, rt.cfg.ServiceEnv(env, svc)...)
	}
	return out
}

func (s *service) newRevision(spec ServiceSpec, bin string) (*revision, error) {
	dir := filepath.Join(s.env.rt.cfg.Dir, "run", s.env.name, s.name, strings.TrimPrefix(spec.Digest, "sha256:")[:12])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &revision{svc: s, spec: spec, bin: bin, dir: dir, started: time.Now()}, nil
}

// scaleTo starts replicas up to n; it does not wait for them. Replicas
// beyond n are drained and stopped.
func (v *revision) scaleTo(n int) error {
	for len(v.list()) < n {
		r, err := newReplica(v, len(v.list()))
		if err != nil {
			return err
		}
		if err := r.start(); err != nil {
			return err
		}
		v.mu.Lock()
		v.replicas = append(v.replicas, r)
		v.mu.Unlock()
	}
	var extra []*replica
	v.mu.Lock()
	if len(v.replicas) > n {
		extra = v.replicas[n:]
		v.replicas = v.replicas[:n:n]
	}
	v.mu.Unlock()
	stopAll(extra)
	return nil
}

func (v *revision) list() []*replica {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.replicas
}

// ErrCrashLoop means a new revision's process kept exiting.
var ErrCrashLoop = fault.Refusedf(PhaseCrashLoopBackOff)

// waitReady waits until every replica is ready, a replica is crash looping,
// or the timeout passes.
func (v *revision) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := 0
		rs := v.list()
		for _, r := range rs {
			if r.crashLooping() {
				st := r.status()
				return fmt.Errorf("replica %d: %w (%d restarts, last: %s; log: %s)", r.idx, ErrCrashLoop, st.Restarts, st.LastExit, v.svc.env.rt.logPath(v.svc.env.name, v.svc.name, fmt.Sprintf("%s-%d", v.label(), r.idx)))
			}
			if r.ready.Load() {
				ready++
			}
		}
		if ready == len(rs) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%d of %d replicas ready after %s (is /ready answering 200?)", ready, len(rs), timeout)
		case <-tick.C:
		}
	}
}

// stopAll drains and stops replicas concurrently and waits for all.
func stopAll(rs []*replica) {
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.drainAndStop()
		}()
	}
	wg.Wait()
}

func (v *revision) stop() {
	v.cancelScaleDown()
	stopAll(v.list())
}

// scaleDownAfter stops the revision after d (blue/green's
// scaleDownDelaySeconds), unless cancelled by a switch back (the
// rollback commit while it still runs).
func (v *revision) scaleDownAfter(d time.Duration, done func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.scaleDownAt = time.Now().Add(d)
	v.timer = time.AfterFunc(d, func() {
		v.stop()
		done()
	})
}

// running reports whether the revision still runs after a promotion moved
// traffic away from it: its scale-down is pending.
func (v *revision) running() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.timer != nil
}

// cancelScaleDown reports whether a pending scale-down was cancelled.
func (v *revision) cancelScaleDown() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.timer == nil {
		return false
	}
	ok := v.timer.Stop()
	v.timer = nil
	v.scaleDownAt = time.Time{}
	return ok
}

// RevisionStatus is one version of a service as it runs.
type RevisionStatus struct {
	Tag         string          `json:"tag"`
	Digest      string          `json:"digest"`
	Replicas    int             `json:"replicas"`
	Ready       int             `json:"ready"`
	Restarts    int             `json:"restarts"`
	Phase       string          `json:"phase"`
	ScaleDownAt *time.Time      `json:"scaleDownAt,omitempty"`
	Pods        []replicaStatus `json:"pods"`
}

func (v *revision) status() *RevisionStatus {
	if v == nil {
		return nil
	}
	rs0 := v.list()
	st := &RevisionStatus{Tag: v.spec.Tag, Digest: v.spec.Digest, Replicas: len(rs0), Phase: PhaseReady}
	for _, r := range rs0 {
		rs := r.status()
		st.Pods = append(st.Pods, rs)
		st.Restarts += rs.Restarts
		if r.ready.Load() {
			st.Ready++
		} else if rs.Phase == PhaseCrashLoopBackOff || st.Phase == PhaseReady {
			st.Phase = rs.Phase
		}
	}
	v.mu.Lock()
	if !v.scaleDownAt.IsZero() {
		t := v.scaleDownAt
		st.ScaleDownAt = &t
	}
	v.mu.Unlock()
	return st
}
