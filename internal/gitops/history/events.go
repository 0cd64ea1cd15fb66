package history

import (
	"context"
)

// ServiceHistory is what happened to one service in one environment.
type ServiceHistory struct {
	Source      string  `json:"source"`
	Environment string  `json:"environment"`
	Service     string  `json:"service"`
	Events      []Event `json:"events"`
}

// History lists, newest first, every commit that touched the service's
// environment file, hold or approvals in env — smpctl's commits and hand
// edits alike. limit > 0 keeps only the newest limit events. Where
// delivery.yaml lists signers, each event says whether its commit is
// signed by a key listed for the person it names (Event.Signature).
//
// A path-limited `git log` costs a tree diff per commit (about four times a
// plain walk on 5,000 commits), so History walks once without paths, takes
// smpctl's commits by their trailers, and asks git for the changed files
// only of the commits that carry no action (hand edits), in one
// `git log --no-walk` over those.
func (r *Repo) History(ctx context.Context, env, svc string, limit int) (*ServiceHistory, error) {
	snap, err := r.snapshot(ctx, false)
	if err != nil {
		return nil, err
	}
	if err := snap.CheckEnv(env); err != nil {
		return nil, err
	}
	if err := snap.CheckService(svc); err != nil {
		return nil, err
	}
	tl, _, err := r.serviceEvents(ctx, snap, svc, []string{env}, false)
	if err != nil {
		return nil, err
	}
	h := &ServiceHistory{Source: r.Source, Environment: env, Service: svc, Events: []Event{}}
	for _, e := range tl {
		h.Events = append(h.Events, e.Event)
		if limit > 0 && len(h.Events) == limit {
			break
		}
	}
	if err := r.signEvents(ctx, snap.Config, h.Events); err != nil {
		return nil, err
	}
	return h, nil
}
