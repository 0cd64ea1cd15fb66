package history

import (
	"context"
	"fmt"
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
// edits alike. limit > 0 keeps only the newest limit events.
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
	h := &ServiceHistory{Source: r.Source, Environment: env, Service: svc, Events: []Event{}}
	paths := []string{
		fmt.Sprintf("environments/%s/%s.yaml", env, svc),
		fmt.Sprintf("state/holds/%s/%s.yaml", env, svc),
		fmt.Sprintf("state/approvals/%s/%s", env, svc),
	}
	err = r.Walk(ctx, WalkOptions{From: snap.Commit, Paths: paths}, func(ev *WalkEvent) bool {
		h.Events = append(h.Events, ev.Event)
		return limit <= 0 || len(h.Events) < limit
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}
