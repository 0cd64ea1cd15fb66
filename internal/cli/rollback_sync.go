package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/daemon"
)

// rolloutView is what rollback --sync needs of an engine: apply the
// environment's head (whose environment file pins chart), read the
// service's blue/green state, promote.
type rolloutView interface {
	sync(ctx context.Context, chart string) error
	state(ctx context.Context) (rolloutState, error)
	promote(ctx context.Context) error
}

// rolloutState is a service's Rollout as rollback --sync reads it.
type rolloutState struct {
	active, preview string // the digests the active and preview Services select
	// paused is true while an update waits for promotion.
	paused bool
	// previewReady is true once every pod of the preview is ready.
	previewReady bool
}

func (s rolloutState) String() string {
	return fmt.Sprintf("active %s, preview %s, paused %v", orNone(shortDigest(s.active)), orNone(shortDigest(s.preview)), s.paused)
}

// bringActive makes digest, just written back by a rollback, the active
// version of the service on the engine: it syncs the environment, and when
// the version waits on the preview for promotion it promotes it. That
// happens after blue/green's scaleDownDelaySeconds, once the version's
// ReplicaSet is gone: the rollback starts it again as a preview, and where
// autoPromotionEnabled is false (prod) the engine waits for a person. A
// rollback restores a version that already ran in the environment
// (write.Rollback refuses any other, and its commit says so in its
// Fast-Lane trailer), so approval and soak do not apply and the promotion
// is not theirs to wait for. It returns what it did; after timeout it
// gives up with what is left to do (the commit stands either way).
//
// tag names the version in what it says; chart is the chart version the
// environment file pins after the rollback.
func bringActive(ctx context.Context, v rolloutView, progress io.Writer, env, svc, tag, digest, chart string, timeout time.Duration) (string, error) {
	what := tag + " (" + shortDigest(digest) + ")"
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	began := time.Now()
	if err := v.sync(ctx, chart); err != nil {
		return "", fmt.Errorf("sync %s for the rollback: %w; the rollback commit stands: sync it with `smpctl sync %s` once the cause is fixed", env, err, env)
	}
	promoted := false
	var last rolloutState
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		st, err := v.state(ctx)
		if err != nil && ctx.Err() == nil {
			return "", fmt.Errorf("read the rollout of %s in %s: %w", svc, env, err)
		}
		if err == nil {
			last = st
			switch {
			case st.active == digest && !st.paused:
				took := time.Since(began).Round(100 * time.Millisecond)
				if promoted {
					return fmt.Sprintf("%s active in %s after %s: it was scaled down, came back on the preview and was promoted (a rollback skips approval and soak: Fast-Lane)", what, env, took), nil
				}
				return fmt.Sprintf("%s active in %s after %s: it still ran, so active switched back at once", what, env, took), nil
			case !promoted && st.paused && st.preview == digest && st.previewReady:
				fmt.Fprintf(progress, "rollback: %s waits on the preview of %s in %s (its ReplicaSet had been scaled down); promoting it\n", what, svc, env)
				// An engine that promotes by itself (autoPromotionEnabled)
				// may have done it first: read the state again.
				var de *daemon.Error
				if err := v.promote(ctx); err != nil && !errors.Is(err, kube.ErrNothingToPromote) && (!errors.As(err, &de) || !de.Conflict) {
					return "", fmt.Errorf("promote the rollback's preview of %s in %s: %w; promote it with `smpctl rollout promote %s %s`", svc, env, err, env, svc)
				}
				promoted = true
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", fault.Refusedf("after %s, %s in %s is not active yet (%s); the rollback commit stands: check `smpctl rollout status %s %s`, and promote the preview with `smpctl rollout promote %s %s` once it is ready",
					timeout, what, env, last, env, svc, env, svc)
			}
			return "", ctx.Err()
		case <-tick.C:
		}
	}
}

// applyRollback brings the image the rollback out wrote active on view
// (bringActive), with the chart version env's file pins after it.
func (a *App) applyRollback(ctx context.Context, repo *gitops.Repo, view rolloutView, out write.Outcome, timeout time.Duration) (string, error) {
	if out.Image == nil {
		return "", fmt.Errorf("the rollback named no image to wait for; check it with `smpctl rollout status %s %s`", out.Environment, out.Service)
	}
	f, err := write.Running(ctx, repo, out.Environment, out.Service)
	if err != nil {
		return "", fmt.Errorf("read the chart version the rollback pins: %w; the rollback commit stands: sync it with `smpctl sync %s`", err, out.Environment)
	}
	return bringActive(ctx, view, a.Stderr, out.Environment, out.Service, out.Image.Tag, out.Image.Digest, f.ChartVersion, timeout)
}

// kubeRollout is rolloutView on a cluster: the service's Argo CD
// Application and Argo Rollouts Rollout.
type kubeRollout struct {
	k        *kube.Client
	env, svc string
	by       string
	progress io.Writer
}

// sync first has the ApplicationSet regenerate the Application: a
// rollback to a release built with another chart changes chart.version,
// which only the ApplicationSet carries into the Application.
func (r kubeRollout) sync(ctx context.Context, chart string) error {
	if err := r.k.Regenerate(ctx, r.env, r.svc, chart, time.Minute); err != nil {
		return err
	}
	_, err := r.k.SyncApps(ctx, []string{kube.AppName(r.env, r.svc)}, kube.SyncOptions{By: r.by, Progress: r.progress})
	return err
}

func (r kubeRollout) state(ctx context.Context) (rolloutState, error) {
	st, err := r.k.Rollout(ctx, r.env, r.svc)
	if err != nil {
		return rolloutState{}, err
	}
	s := rolloutState{paused: st.Paused}
	if st.Active != nil {
		s.active = st.Active.Digest
	}
	if st.Preview != nil {
		s.preview = st.Preview.Digest
		s.previewReady = st.Preview.Replicas > 0 && st.Preview.Ready >= st.Preview.Replicas
	}
	return s, nil
}

func (r kubeRollout) promote(ctx context.Context) error {
	return r.k.Promote(ctx, r.env, r.svc, r.progress)
}

// reach reads the service's Application and Rollout, the two objects sync
// and state act on. Building a client from a kubeconfig asks the cluster
// nothing: without this read, a kubeconfig with a wrong server, an expired
// token or a missing role would be found only after the rollback commit,
// at the end of a watch of ten minutes.
func (r kubeRollout) reach(ctx context.Context) error {
	if _, err := r.k.App(ctx, kube.AppName(r.env, r.svc)); err != nil {
		return err
	}
	_, err := r.k.Rollout(ctx, r.env, r.svc)
	return err
}

// localRollout is rolloutView on the local runtime (smpctl local up).
type localRollout struct {
	cl       *daemon.Client
	env, svc string
}

// sync syncs the environment; the local runtime reads the chart version
// from the environment file itself.
func (r localRollout) sync(ctx context.Context, _ string) error {
	_, err := r.cl.Sync(ctx, r.env)
	return err
}

func (r localRollout) state(ctx context.Context) (rolloutState, error) {
	st, err := r.cl.Status(ctx)
	if err != nil {
		return rolloutState{}, err
	}
	for _, e := range st.Runtime.Envs {
		if e.Name != r.env {
			continue
		}
		for _, sv := range e.Services {
			if sv.Name != r.svc {
				continue
			}
			var s rolloutState
			if sv.Active != nil {
				s.active = sv.Active.Digest
			}
			// The local runtime's preview is the version that waits
			// for promotion.
			if sv.Preview != nil {
				s.preview, s.paused = sv.Preview.Digest, true
				s.previewReady = sv.Preview.Replicas > 0 && sv.Preview.Ready >= sv.Preview.Replicas
			}
			return s, nil
		}
		return rolloutState{}, fault.Invalidf("the local runtime runs no service %q in %s", r.svc, r.env)
	}
	return rolloutState{}, fault.Invalidf("the local runtime has no environment %q", r.env)
}

func (r localRollout) promote(ctx context.Context) error {
	return r.cl.Rollout(ctx, r.env, r.svc, "promote")
}

// rolloutOn connects to the engine the flags name and reads what applying
// a rollback there needs, so that an engine that cannot be reached is
// found before anything is written (rollback) or watched (verify --for).
func (a *App) rolloutOn(ctx context.Context, e *engineFlags, env, svc, by string) (rolloutView, error) {
	k, err := e.cluster(a)
	if err != nil {
		return nil, err
	}
	if k != nil {
		r := kubeRollout{k: k, env: env, svc: svc, by: by, progress: a.Stderr}
		return r, r.reach(ctx)
	}
	cl, _, err := daemon.Connect(e.dir)
	if err != nil {
		return nil, err
	}
	return localRollout{cl: cl, env: env, svc: svc}, nil
}
