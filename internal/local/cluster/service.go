package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// Health of a service, with Argo CD's and Argo Rollouts' words.
const (
	HealthHealthy     = "Healthy"
	HealthProgressing = "Progressing"
	HealthDegraded    = "Degraded"
	HealthPaused      = "Paused"
	HealthMissing     = "Missing"
)

// Sentinel errors of promote and abort.
var (
	ErrNothingToPromote = fault.Refusedf("no preview waiting for promotion")
	ErrNothingToAbort   = fault.Refusedf("no rollout to abort: no preview and no previous version still running")
	ErrUnknownService   = fault.Invalidf("unknown service")
	ErrUnknownEnv       = fault.Invalidf("unknown environment")
)

// service is one service in one environment: an Argo CD Application with
// its Rollout. Its URLs stay the same across versions.
type service struct {
	env  *env
	name string

	op sync.Mutex // one rollout, promote or abort at a time

	stable  *proxy // the stable URL; the active service of blue/green
	preview *proxy // blue/green's preview URL

	mu       sync.Mutex // guards the fields below
	desired  ServiceSpec
	active   *revision
	pending  *revision // blue/green: new version on the preview URL, awaiting promote
	previous *revision // blue/green: old version after promote, until scale-down
	aborted  string    // digest whose rollout was aborted; not retried until git changes
	failed   *Failure  // last failed rollout
	progress string    // what a rollout in flight is doing
}

// Failure is a rollout that did not complete; the previous version kept
// serving.
type Failure struct {
	Tag       string    `json:"tag"`
	Digest    string    `json:"digest"`
	Step      string    `json:"step"` // pull, migrate, start
	Reason    string    `json:"reason"`
	Phase     string    `json:"phase,omitempty"` // CrashLoopBackOff when the process kept exiting
	At        time.Time `json:"at"`
	permanent bool      // the image itself is bad: do not retry the same digest
}

func newService(e *env, name string) (*service, error) {
	st, err := newProxy()
	if err != nil {
		return nil, fmt.Errorf("proxy for %s/%s: %w", e.name, name, err)
	}
	pv, err := newProxy()
	if err != nil {
		st.close(context.Background())
		return nil, fmt.Errorf("preview proxy for %s/%s: %w", e.name, name, err)
	}
	return &service{env: e, name: name, stable: st, preview: pv}, nil
}

func (s *service) set(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
	s.env.rt.notify()
}

// reconcile makes the service run spec, as one Argo CD sync of its
// Application: pull, migrate, start, wait ready, then shift traffic
// (rolling) or put the new version on the preview URL (blue/green). Any
// failure leaves the previous version serving and is recorded.
func (s *service) reconcile(ctx context.Context, spec ServiceSpec, force bool) error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	s.desired = spec
	cur, pending, failed, aborted := s.active, s.pending, s.failed, s.aborted
	s.mu.Unlock()

	if cur != nil && cur.spec.Digest == spec.Digest {
		// Git agrees with what serves (e.g. the rollback commit after an
		// abort): clear the abort, drop a preview git no longer wants.
		s.set(func() { s.aborted, s.failed, s.pending, cur.spec = "", nil, nil, spec })
		if pending != nil {
			s.preview.pool.set(cur.list())
			pending.stop()
		}
		if err := cur.scaleTo(spec.Replicas); err != nil {
			return err
		}
		s.stable.pool.set(cur.list())
		if pending != nil || spec.Strategy == StrategyBlueGreen {
			s.preview.pool.set(cur.list())
		}
		return nil
	}
	if aborted == spec.Digest {
		return nil
	}
	if prev := s.previousRunning(spec.Digest); prev != nil {
		// Git went back to the version promoted away from, which still runs
		// until its scale-down: Argo Rollouts makes that ReplicaSet active
		// again without a preview or a pause, and scales the other down
		// after the delay. This is the way back after a promotion (an abort
		// no longer applies then).
		return s.switchBack(prev, cur, spec)
	}
	if pending != nil && pending.spec.Digest == spec.Digest {
		return nil
	}
	if !force && failed != nil && failed.permanent && failed.Digest == spec.Digest {
		return fmt.Errorf("%s %s: %s", failed.Step, failed.Tag, failed.Reason)
	}
	fail := func(step string, err error, permanent bool) error {
		f := &Failure{Tag: spec.Tag, Digest: spec.Digest, Step: step, Reason: err.Error(), At: time.Now(), permanent: permanent}
		if errors.Is(err, ErrCrashLoop) {
			f.Phase = PhaseCrashLoopBackOff
		}
		s.set(func() { s.failed, s.progress = f, "" })
		s.env.rt.log.Warn("rollout failed; previous version keeps serving", "env", s.env.name, "service", s.name, "version", spec.Tag, "step", step, "err", err)
		return fmt.Errorf("%s %s: %w", step, spec.Tag, err)
	}
	rt := s.env.rt
	s.set(func() { s.progress = "pulling " + spec.Ref() })
	bin, err := rt.cfg.Images.Fetch(ctx, spec.Repository, spec.Digest)
	if err != nil {
		return fail("pull", err, errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrNoEntrypoint))
	}
	rev, err := s.newRevision(spec, bin)
	if err != nil {
		return fail("start", err, false)
	}
	s.set(func() { s.progress = "migrating with " + spec.Tag })
	if err := rt.migrate(ctx, rev); err != nil {
		return fail("migrate", err, false)
	}
	s.set(func() { s.progress = "starting " + spec.Tag })
	if err := rev.scaleTo(spec.Replicas); err != nil {
		rev.stop()
		return fail("start", err, true)
	}
	if err := rev.waitReady(ctx, rt.cfg.ReadyTimeout); err != nil {
		rev.stop()
		return fail("start", err, true)
	}
	if spec.Strategy == StrategyBlueGreen && cur != nil {
		s.preview.pool.set(rev.list())
		s.set(func() { s.pending, s.failed, s.progress = rev, nil, "" })
		if pending != nil {
			pending.stop()
		}
		if spec.AutoPromote {
			// Cannot fail: the preview was set just above.
			_ = s.promoteLocked()
		}
		return nil
	}
	// Rolling: every new replica is ready; shift traffic at once, then
	// drain and stop the old ones (maxSurge 100%, maxUnavailable 0).
	s.stable.pool.set(rev.list())
	s.preview.pool.set(rev.list())
	s.set(func() { s.active, s.pending, s.failed, s.progress = rev, nil, nil, "" })
	s.mu.Lock()
	prev := s.previous
	s.previous = nil
	s.mu.Unlock()
	for _, old := range []*revision{cur, pending, prev} {
		if old != nil {
			old.stop()
		}
	}
	return nil
}

// promote swaps a blue/green pair: the preview version becomes active; the
// old one stays up for scaleDownDelaySeconds so an abort is instant.
func (s *service) promote() error {
	s.op.Lock()
	defer s.op.Unlock()
	return s.promoteLocked()
}

func (s *service) promoteLocked() error {
	s.mu.Lock()
	pending, cur, prev := s.pending, s.active, s.previous
	s.mu.Unlock()
	if pending == nil {
		return fmt.Errorf("promote %s/%s: %w", s.env.name, s.name, ErrNothingToPromote)
	}
	s.stable.pool.set(pending.list())
	s.set(func() { s.active, s.pending, s.previous = pending, nil, cur })
	if prev != nil {
		prev.stop()
	}
	if cur != nil {
		cur.scaleDownAfter(pending.spec.ScaleDownDelay, func() {
			s.set(func() {
				if s.previous == cur {
					s.previous = nil
				}
			})
		})
	}
	return nil
}

// abort stops a blue/green update in progress, as Argo Rollouts' abort does:
// before promotion it drops the preview and active keeps serving the old
// version. After a promotion there is no update in progress, so there is
// nothing to abort (the real controller leaves the Rollout Healthy on the new
// version): the way back is the rollback commit, which switches back at once
// while the previous version still runs (ErrNothingToAbort says so). The
// aborted digest is not deployed again until git changes.
func (s *service) abort() error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	pending, cur, prev := s.pending, s.active, s.previous
	s.mu.Unlock()
	if pending != nil {
		if cur != nil {
			s.preview.pool.set(cur.list())
		}
		s.set(func() { s.pending, s.aborted = nil, pending.spec.Digest })
		go pending.stop()
		return nil
	}
	if prev != nil && cur != nil && prev.running() {
		return fmt.Errorf("abort %s/%s: %w: %s was promoted and serves; %s still runs until its scale-down, so a rollback commit switches back to it at once (smpctl rollback)",
			s.env.name, s.name, ErrNothingToAbort, cur.label(), prev.label())
	}
	return fmt.Errorf("abort %s/%s: %w", s.env.name, s.name, ErrNothingToAbort)
}

// previousRunning is the version promoted away from when it is digest and
// still runs (its scale-down delay has not passed).
func (s *service) previousRunning(digest string) *revision {
	s.mu.Lock()
	prev := s.previous
	s.mu.Unlock()
	if prev == nil || prev.spec.Digest != digest || !prev.running() {
		return nil
	}
	return prev
}

// switchBack makes prev, still running, active again for spec, and scales
// cur down after spec's delay: what Argo Rollouts does when a blue/green
// Rollout's template goes back to a ReplicaSet that is still up.
func (s *service) switchBack(prev, cur *revision, spec ServiceSpec) error {
	if !prev.cancelScaleDown() {
		return nil // scaled down in the meantime: the caller's next sync starts it afresh
	}
	s.set(func() { prev.spec = spec })
	if err := prev.scaleTo(spec.Replicas); err != nil {
		return err
	}
	s.stable.pool.set(prev.list())
	s.preview.pool.set(prev.list())
	s.set(func() { s.active, s.previous, s.pending, s.failed, s.aborted = prev, cur, nil, nil, "" })
	if cur != nil {
		cur.scaleDownAfter(spec.ScaleDownDelay, func() {
			s.set(func() {
				if s.previous == cur {
					s.previous = nil
				}
			})
		})
	}
	return nil
}

func (s *service) close() {
	s.mu.Lock()
	revs := []*revision{s.active, s.pending, s.previous}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.stable.close(ctx)
	s.preview.close(ctx)
	var wg sync.WaitGroup
	for _, v := range revs {
		if v != nil {
			wg.Add(1)
			go func() { defer wg.Done(); v.stop() }()
		}
	}
	wg.Wait()
}

// ServiceStatus is a service in an environment as `smpctl status` shows it.
type ServiceStatus struct {
	Name       string          `json:"name"`
	Strategy   string          `json:"strategy"`
	Health     string          `json:"health"`
	Message    string          `json:"message,omitempty"`
	URL        string          `json:"url"`
	PreviewURL string          `json:"previewUrl,omitempty"`
	Desired    DesiredStatus   `json:"desired"`
	Active     *RevisionStatus `json:"active,omitempty"`
	Preview    *RevisionStatus `json:"preview,omitempty"`
	Previous   *RevisionStatus `json:"previous,omitempty"`
	Failed     *Failure        `json:"failed,omitempty"`
	Aborted    string          `json:"aborted,omitempty"`
}

// DesiredStatus is what git asks for.
type DesiredStatus struct {
	Tag      string `json:"tag"`
	Digest   string `json:"digest"`
	Replicas int    `json:"replicas"`
}

func (s *service) status() ServiceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ServiceStatus{
		Name: s.name, Strategy: s.desired.Strategy, URL: s.stable.url,
		Desired: DesiredStatus{Tag: s.desired.Tag, Digest: s.desired.Digest, Replicas: s.desired.Replicas},
		Active:  s.active.status(), Preview: s.pending.status(), Previous: s.previous.status(),
		Failed: s.failed, Aborted: s.aborted,
	}
	if st.Strategy == StrategyBlueGreen {
		st.PreviewURL = s.preview.url
	}
	switch {
	case s.progress != "":
		st.Health, st.Message = HealthProgressing, s.progress
	case s.active == nil && s.failed != nil:
		st.Health, st.Message = HealthMissing, fmt.Sprintf("%s of %s failed: %s", s.failed.Step, s.failed.Tag, s.failed.Reason)
	case s.active == nil:
		st.Health, st.Message = HealthMissing, "not synced yet"
	case s.failed != nil:
		st.Health = HealthDegraded
		st.Message = fmt.Sprintf("%s of %s failed: %s; %s keeps serving", s.failed.Step, s.failed.Tag, s.failed.Reason, s.active.label())
	case s.aborted != "":
		st.Health = HealthDegraded
		st.Message = fmt.Sprintf("rollout of %s aborted; %s serves; git still asks for it — roll back in git (smpctl rollback) or deploy another version", shortDigest(s.aborted), s.active.label())
	case st.Active.Ready < st.Active.Replicas:
		st.Health = HealthDegraded
		st.Message = fmt.Sprintf("%d of %d replicas ready (%s)", st.Active.Ready, st.Active.Replicas, st.Active.Phase)
	case s.pending != nil:
		st.Health = HealthPaused
		st.Message = fmt.Sprintf("%s on the preview URL, awaiting promote (smpctl rollout promote %s %s)", s.pending.label(), s.env.name, s.name)
	default:
		st.Health = HealthHealthy
	}
	return st
}
