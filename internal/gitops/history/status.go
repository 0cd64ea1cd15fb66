package history

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
)

// Cell is one service in one environment.
type Cell struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	// Present is false when the environment has no file for the service.
	Present      bool   `json:"present"`
	Repository   string `json:"repository,omitempty"`
	Tag          string `json:"tag,omitempty"`
	Digest       string `json:"digest,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
	Strategy     string `json:"strategy,omitempty"`
	// The commit that wrote the running image, when found.
	Action     Action     `json:"action,omitempty"`
	DeployedAt *time.Time `json:"deployedAt,omitempty"`
	DeployedBy string     `json:"deployedBy,omitempty"`
	// ApprovedBy is the deploy's Approved-By trailer: who let it into a
	// gated environment.
	ApprovedBy string `json:"approvedBy,omitempty"`
	// PipelineRun is the URL of the CI run that made the commit.
	PipelineRun  string     `json:"pipelineRun,omitempty"`
	Commit       string     `json:"commit,omitempty"`
	SourceCommit string     `json:"sourceCommit,omitempty"`
	SourceTime   *time.Time `json:"sourceTime,omitempty"`
	PromotedFrom string     `json:"promotedFrom,omitempty"`
	// Drift: the file's image is not the one the last smpctl commit wrote
	// (someone edited it by hand); DeployedAt/By then name the last commit
	// that touched the file.
	Drift bool  `json:"drift,omitempty"`
	Held  bool  `json:"held"`
	Hold  *Hold `json:"hold,omitempty"`
	// ApprovalSignature, in an environment with signedApprovals, says
	// whether the approval of the running tag is signed, and by whom.
	ApprovalSignature *ApprovalSignature `json:"approvalSignature,omitempty"`
	// Error says why the environment file could not be read.
	Error string `json:"error,omitempty"`
}

// Status is the service × environment matrix at one commit.
type Status struct {
	Source       string          `json:"source"`
	Commit       string          `json:"commit"`
	Environments []string        `json:"environments"`
	Services     []ServiceStatus `json:"services"`
	// Queue is the automated deploys waiting for a soak to end
	// (docs/soak.md).
	Queue []QueuedDeploy `json:"queue,omitempty"`
	// Approvals, in environments with approvalMaxAge, are the approvals
	// not used yet and when each expires (ApprovalAges; filled by the
	// caller, which has the clock).
	Approvals []ApprovalAge `json:"approvals,omitempty"`
	// Config is delivery.yaml at Commit: the approvers and freezes a
	// reader of the matrix needs next to it, without a second read.
	Config *delivery.Config `json:"-"`
}

// ServiceStatus is one row of the matrix: a cell per environment, in
// Status.Environments order.
type ServiceStatus struct {
	Name         string `json:"name"`
	Environments []Cell `json:"environments"`
}

// Cell returns the cell of svc in env.
func (s *Status) Cell(svc, env string) (Cell, bool) {
	for _, row := range s.Services {
		if row.Name != svc {
			continue
		}
		for _, c := range row.Environments {
			if c.Environment == env {
				return c, true
			}
		}
	}
	return Cell{}, false
}

// Status reads the matrix: the image of every environment file at HEAD,
// the commit that deployed it (one `git log` pass, stopped as soon as every
// file is attributed) and the holds.
func (r *Repo) Status(ctx context.Context) (*Status, error) {
	head, err := r.head(ctx)
	if err != nil {
		return nil, err
	}
	// The history walk does not depend on the files: start `git log` while
	// the snapshot is read and decoded, and hand its events over as the
	// matrix asks for them (at most a channel's worth read ahead).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan *WalkEvent, 256)
	walkErr := make(chan error, 1)
	go func() {
		defer close(events)
		walkErr <- r.Walk(ctx, WalkOptions{From: head}, func(ev *WalkEvent) bool {
			select {
			case events <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	snap, err := r.snapshotAt(ctx, head, true)
	if err != nil {
		return nil, err
	}
	st, err := r.statusFrom(ctx, snap, func(fn func(*WalkEvent) bool) error {
		for ev := range events {
			if !fn(ev) {
				return nil
			}
		}
		return <-walkErr
	})
	if err == nil {
		st.Queue, err = r.Queue(ctx, head)
	}
	if err == nil {
		err = r.signApprovals(ctx, st)
	}
	cancel()
	return st, err
}

func (r *Repo) status(ctx context.Context, snap *Snapshot) (*Status, error) {
	return r.statusFrom(ctx, snap, func(fn func(*WalkEvent) bool) error {
		return r.Walk(ctx, WalkOptions{From: snap.Commit}, fn)
	})
}

// statusFrom builds the matrix of snap, attributing each file to the commit
// that wrote it from walk's events (newest first).
func (r *Repo) statusFrom(ctx context.Context, snap *Snapshot, walk func(func(*WalkEvent) bool) error) (*Status, error) {
	last := map[Key]*Event{}
	// Commits that wrote no image (hand edits, init, holds, ...), newest
	// first: the only candidates for a drifted file's last change.
	var others []string
	pending := 0
	// Only files with an image can have a deploy to find; a new service's
	// file (no tag yet) would otherwise force a walk of the whole history.
	deployed := func(k Key) bool {
		f, ok := snap.Files[k]
		return ok && (f.Tag != "" || f.Digest != "")
	}
	for k := range snap.Files {
		if deployed(k) {
			pending++
		}
	}
	if pending > 0 {
		err := walk(func(ev *WalkEvent) bool {
			if !ev.Action.Changes() {
				others = append(others, ev.Commit)
				return true
			}
			k := Key{ev.Environment, ev.Service}
			if _, seen := last[k]; seen {
				return true
			}
			if _, ok := snap.Files[k]; !ok {
				return true
			}
			e := ev.Event
			last[k] = &e
			if deployed(k) {
				pending--
			}
			return pending > 0
		})
		if err != nil {
			return nil, err
		}
	}
	st := &Status{Source: r.Source, Commit: snap.Commit, Environments: snap.Envs(), Config: snap.Config}
	for _, svc := range snap.Services() {
		row := ServiceStatus{Name: svc}
		for _, env := range st.Environments {
			k := Key{env, svc}
			c := Cell{Environment: env, Service: svc}
			if h, held := snap.Holds[k]; held {
				h := h
				c.Held, c.Hold = true, &h
			}
			f, ok := snap.Files[k]
			if ok {
				c.Present = true
				c.Repository, c.Tag, c.Digest = f.Repository, f.Tag, f.Digest
				c.ChartVersion, c.Strategy, c.Error = f.ChartVersion, f.Strategy, f.Err
			}
			if ev := last[k]; ev != nil {
				c.Action, c.Commit = ev.Action, ev.Commit
				t := ev.Time
				c.DeployedAt, c.DeployedBy = &t, ev.By()
				c.ApprovedBy, c.PipelineRun = ev.ApprovedBy, ev.PipelineRun
				c.SourceCommit, c.SourceTime, c.PromotedFrom = ev.SourceCommit, ev.SourceTime, ev.PromotedFrom
				c.Drift = drifted(ev, f)
			} else if ok && f.Tag != "" {
				c.Drift = true // an image no smpctl commit wrote
			}
			row.Environments = append(row.Environments, c)
		}
		st.Services = append(st.Services, row)
	}
	if err := r.attributeDrift(ctx, others, st); err != nil {
		return nil, err
	}
	return st, nil
}

// attributeDrift names, for every drifted cell (an image no smpctl commit
// wrote: a hand edit, or a file that predates smpctl), the last commit that
// touched its file. Status's walk already went past that commit (it is newer
// than the cell's last deploy, or there is no deploy and the walk read
// everything), so only the commits that wrote no image are candidates: one
// `git log --no-walk --name-only` over them, limited to the drifted files.
func (r *Repo) attributeDrift(ctx context.Context, candidates []string, st *Status) error {
	cells := map[string]*Cell{}
	var paths []string
	for i := range st.Services {
		for j := range st.Services[i].Environments {
			c := &st.Services[i].Environments[j]
			if c.Drift {
				p := fmt.Sprintf("environments/%s/%s.yaml", c.Environment, c.Service)
				cells[p] = c
				paths = append(paths, p)
			}
		}
	}
	if len(paths) == 0 || len(candidates) == 0 {
		return nil
	}
	return r.Walk(ctx, WalkOptions{Commits: candidates, Paths: paths, Files: true}, func(ev *WalkEvent) bool {
		for _, p := range ev.Files {
			c := cells[p]
			if c == nil {
				continue
			}
			delete(cells, p)
			t := ev.Time
			c.DeployedAt, c.DeployedBy, c.Commit, c.Action = &t, ev.By(), ev.Commit, ev.Action
			c.ApprovedBy, c.PipelineRun = ev.ApprovedBy, ev.PipelineRun
			c.SourceCommit, c.SourceTime, c.PromotedFrom = ev.SourceCommit, ev.SourceTime, ev.PromotedFrom
		}
		return len(cells) > 0
	})
}

// drifted reports whether the file's image is not the one ev wrote: the
// digests differ, or, when either side has no digest (a seed-style tag-only
// file or commit), the tags differ.
func drifted(ev *Event, f EnvFile) bool {
	if ev.Digest != "" && f.Digest != "" {
		return ev.Digest != f.Digest
	}
	return ev.Tag != "" && f.Tag != "" && ev.Tag != f.Tag
}

// ShortDigest abbreviates sha256:<64 hex> to sha256:<12 hex> for tables.
func ShortDigest(d string) string {
	if strings.HasPrefix(d, "sha256:") && len(d) > 19 {
		return d[:19]
	}
	return d
}
