package daemon

import (
	"context"
	"strings"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/local/cluster"
)

// LiveReader is the dashboard's LiveReader on a local runtime: read returns
// what it runs (the daemon's own runtime, or GET /status of a running one).
// Each cell says what `smpctl status --local` says of it, in the words the
// cluster's reader uses (Argo CD's sync and health, Argo Rollouts' phase),
// so the page reads the same on both.
func LiveReader(read func(ctx context.Context) (cluster.Status, error)) dashboard.LiveReader {
	return func(ctx context.Context, st *history.Status) ([]dashboard.LiveCell, error) {
		rt, err := read(ctx)
		if err != nil {
			return nil, err
		}
		return liveCells(st, rt), nil
	}
}

// liveCells is, for each service git deploys to an environment, what the
// local runtime runs of it.
func liveCells(st *history.Status, rt cluster.Status) []dashboard.LiveCell {
	envs := make(map[string]cluster.EnvStatus, len(rt.Envs))
	for _, e := range rt.Envs {
		envs[e.Name] = e
	}
	var out []dashboard.LiveCell
	for _, env := range st.Environments {
		e, envOK := envs[env]
		for _, row := range st.Services {
			c, ok := st.Cell(row.Name, env)
			if !ok || !c.Present {
				continue
			}
			lc := dashboard.LiveCell{Environment: env, Service: row.Name}
			if !envOK {
				lc.Problem = "no environment " + env + " in the local runtime (smpctl local up reads delivery.yaml at start: restart it)"
				out = append(out, lc)
				continue
			}
			lc.Sync = e.SyncStatus
			var notes []string
			if e.SyncError != "" {
				notes = append(notes, "last sync failed: "+e.SyncError)
			}
			s, ok := service(e, row.Name)
			switch {
			case !ok:
				lc.Health = cluster.HealthMissing
				notes = append(notes, "not in the local runtime yet: smpctl sync "+env)
			default:
				lc.Health = s.Health
				if s.Message != "" {
					notes = append(notes, s.Message)
				}
				if s.Active != nil {
					lc.Active = s.Active.Digest
				}
				if s.Preview != nil {
					lc.Preview = s.Preview.Digest
				}
				if s.Strategy == cluster.StrategyBlueGreen {
					// Argo Rollouts' phase, as status --live prints a
					// paused Rollout.
					lc.Rollout = s.Health
					if s.Health == cluster.HealthPaused {
						lc.Rollout += " (paused)"
					}
				}
			}
			lc.Drift = c.Digest != "" && c.Digest != lc.Active && c.Digest != lc.Preview
			lc.Message = strings.Join(notes, "; ")
			out = append(out, lc)
		}
	}
	return out
}

func service(e cluster.EnvStatus, name string) (cluster.ServiceStatus, bool) {
	for _, s := range e.Services {
		if s.Name == name {
			return s, true
		}
	}
	return cluster.ServiceStatus{}, false
}
