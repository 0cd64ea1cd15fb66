package history

import (
	"context"
	"fmt"
	"strings"

	"github.com/smp/delivery/internal/gitops/delivery"
)

// ServiceOptions set what Service reads.
type ServiceOptions struct {
	// Envs are the environments whose history the timeline keeps, in the
	// order an entry of one commit in several of them is listed; default
	// every environment at HEAD.
	Envs []string
	// Metrics and Trend set the delivery figures' window and weeks; their
	// Env and Service are ignored (the figures are the service's, in every
	// environment, with each environment's total as Service "*").
	Metrics MetricsOptions
	Trend   TrendOptions
}

// EnvEvent is an Event in the history of one environment.
type EnvEvent struct {
	Env string `json:"environment"`
	Event
}

// ServiceReport is what happened to one service: its timeline in every
// environment and its delivery figures, read together.
type ServiceReport struct {
	Source  string `json:"source"`
	Commit  string `json:"commit"`
	Service string `json:"service"`
	// Timeline is, newest first in the repository's commit order, every
	// event History lists for the service in each of the environments —
	// a commit in several of them (add-service) once per environment, in
	// ServiceOptions.Envs order.
	Timeline []EnvEvent `json:"timeline"`
	Metrics  *Metrics   `json:"metrics"`
	Trend    *Trend     `json:"trend"`
}

// Service reads the service's timeline in every environment and its
// delivery figures with one walk of the history, plus one `git log
// --no-walk` over the hand-made commits (those without an action) to see
// which touched the service's files. A page that shows all of them (the
// dashboard's service page) would otherwise walk 5,000 commits once per
// environment for the timelines, once more to order them and once for the
// figures.
func (r *Repo) Service(ctx context.Context, svc string, o ServiceOptions) (*ServiceReport, error) {
	snap, err := r.snapshot(ctx, false)
	if err != nil {
		return nil, err
	}
	if err := snap.CheckService(svc); err != nil {
		return nil, err
	}
	envs := o.Envs
	if len(envs) == 0 {
		envs = snap.Envs()
	}
	for _, env := range envs {
		if err := snap.CheckEnv(env); err != nil {
			return nil, err
		}
	}
	tl, c, err := r.serviceEvents(ctx, snap, svc, envs, true)
	if err != nil {
		return nil, err
	}
	o.Metrics.Env, o.Metrics.Service = "", svc
	o.Trend.Env, o.Trend.Service = "", svc
	return &ServiceReport{Source: r.Source, Commit: snap.Commit, Service: svc, Timeline: tl,
		Metrics: c.metrics(r.Source, o.Metrics), Trend: c.trend(r.Source, o.Trend)}, nil
}

// serviceEvents walks the history at snap once and returns, newest first,
// svc's events in envs (as History selects them), and, with figures, the
// image changes of svc the delivery figures count (what changes(ctx,
// commit, "", svc) returns) from the same walk.
func (r *Repo) serviceEvents(ctx context.Context, snap *Snapshot, svc string, envs []string, figures bool) ([]EnvEvent, *changeSet, error) {
	type item struct {
		ev     Event
		manual bool // no action: an entry of the environments whose files it touched
	}
	var (
		items      []item
		candidates []string
	)
	c := &changeSet{snap: snap, byKey: map[Key][]Event{}}
	inEnvs := map[string]bool{}
	var paths []string
	for _, env := range envs {
		inEnvs[env] = true
		paths = append(paths,
			fmt.Sprintf("environments/%s/%s.yaml", env, svc),
			fmt.Sprintf("state/holds/%s/%s.yaml", env, svc),
			fmt.Sprintf("state/approvals/%s/%s", env, svc))
	}
	err := r.Walk(ctx, WalkOptions{From: snap.Commit}, func(ev *WalkEvent) bool {
		if ev.Time.After(c.newest) {
			c.newest = ev.Time
		}
		switch {
		case ev.Action == "":
			items = append(items, item{ev.Event, true})
			candidates = append(candidates, ev.Commit)
		case ev.Service == svc && (inEnvs[ev.Environment] || ev.Action == ActionAddService):
			items = append(items, item{ev.Event, false})
		}
		// As changes() counts them: an image change naming a real
		// environment, of this service.
		if figures && ev.Service == svc && ev.Action.Changes() && delivery.ValidName(ev.Environment) && delivery.ValidName(ev.Service) {
			k := Key{ev.Environment, ev.Service}
			c.byKey[k] = append(c.byKey[k], ev.Event)
		}
		return true
	})
	if err != nil {
		return nil, nil, err
	}
	// The environments each hand-made commit touched the service's files in.
	touched := map[string]map[string]bool{}
	if len(candidates) > 0 {
		err = r.Walk(ctx, WalkOptions{Commits: candidates, Paths: paths, Files: true}, func(ev *WalkEvent) bool {
			for _, p := range ev.Files {
				if env := envOfPath(p); env != "" {
					if touched[ev.Commit] == nil {
						touched[ev.Commit] = map[string]bool{}
					}
					touched[ev.Commit][env] = true
				}
			}
			return true
		})
		if err != nil {
			return nil, nil, err
		}
	}
	var out []EnvEvent
	for _, it := range items {
		for _, env := range envs {
			switch {
			case it.manual && !touched[it.ev.Commit][env]:
			case !it.manual && it.ev.Environment != env && it.ev.Action != ActionAddService:
			default:
				out = append(out, EnvEvent{Env: env, Event: it.ev})
			}
		}
	}
	return out, c, nil
}

// envOfPath is the environment of a service's file under environments/,
// state/holds/ or state/approvals/ ("" for another path).
func envOfPath(p string) string {
	for _, dir := range []string{"environments/", "state/holds/", "state/approvals/"} {
		if rest, ok := strings.CutPrefix(p, dir); ok {
			env, _, _ := strings.Cut(rest, "/")
			return env
		}
	}
	return ""
}
