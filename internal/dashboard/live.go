package dashboard

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/smp/delivery/internal/gitops/history"
)

// LiveCell is one service in one environment as the engine runs it: what
// `smpctl status --live` prints for a cluster.
type LiveCell struct {
	Environment, Service string
	// Sync and Health are the Argo CD Application's; empty when the
	// service has no Application (Problem then says so).
	Sync, Health string
	// Rollout is a blue/green Rollout's phase ("Paused (paused)" while it
	// waits for promotion); empty for other services.
	Rollout string
	// Active and Preview are the digests the Rollout's Services select.
	Active, Preview string
	// Drift: git's digest is neither active nor on the preview.
	Drift bool
	// Problem is what could not be read for this cell (no Application, no
	// Rollout).
	Problem string
	// Message is what the engine says of the cell beyond its state (the
	// local runtime's "awaiting promote", a failed sync), if anything.
	Message string
}

// LiveReader reads what the engine runs for the cells of st. It is called
// at every poll, head moved or not: a sync or a promotion changes the
// engine, not git.
type LiveReader func(ctx context.Context, st *history.Status) ([]LiveCell, error)

// liveState is the engine as the last poll read it.
type liveState struct {
	cells map[history.Key]LiveCell
	// err is why the engine could not be read; the page says so above the
	// matrix, which keeps git's side.
	err string
	// key changes when any of the above does: the page fetches itself
	// again when it does.
	key string
}

// readLive reads the engine for st; nil when the dashboard has no reader.
func (d *Dashboard) readLive(ctx context.Context, st *history.Status) *liveState {
	if d.o.Live == nil || st == nil {
		return nil
	}
	cells, err := d.o.Live(ctx, st)
	ls := &liveState{cells: map[history.Key]LiveCell{}}
	h := fnv.New64a()
	if err != nil {
		ls.err = err.Error()
		fmt.Fprintf(h, "error %s\n", ls.err)
	}
	sort.Slice(cells, func(i, j int) bool {
		if cells[i].Environment != cells[j].Environment {
			return cells[i].Environment < cells[j].Environment
		}
		return cells[i].Service < cells[j].Service
	})
	for _, c := range cells {
		ls.cells[history.Key{Env: c.Environment, Service: c.Service}] = c
		fmt.Fprintf(h, "%+v\n", c)
	}
	ls.key = fmt.Sprintf("%016x", h.Sum64())
	return ls
}

// cell returns the live state of svc in env, if read.
func (ls *liveState) cell(env, svc string) *LiveCell {
	if ls == nil {
		return nil
	}
	c, ok := ls.cells[history.Key{Env: env, Service: svc}]
	if !ok {
		return nil
	}
	return &c
}

// sameAs reports whether ls and prev show the same engine state.
func (ls *liveState) sameAs(prev *liveState) bool {
	if ls == nil || prev == nil {
		return ls == prev
	}
	return ls.key == prev.key
}
