package history

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/smp/delivery/internal/gitcmd"

	"github.com/smp/delivery/internal/fault"
)

// Side is a service's state in one environment of a diff.
type Side struct {
	Present      bool   `json:"present"`
	Tag          string `json:"tag,omitempty"`
	Digest       string `json:"digest,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
	SourceCommit string `json:"sourceCommit,omitempty"`
}

// SourceChange is a commit of the service's own repository.
type SourceChange struct {
	Commit  string `json:"commit"`
	Subject string `json:"subject"`
}

// ServiceDiff is a service whose image or chart differs between two
// environments.
type ServiceDiff struct {
	Service string `json:"service"`
	From    Side   `json:"from"`
	To      Side   `json:"to"`
	// Differs names what differs: image, chart, presence.
	Differs []string `json:"differs"`
	// Commits are the service repository's commits in From but not in To
	// (git log To..From), with --source-repo.
	Commits []SourceChange `json:"commits,omitempty"`
	// Note says why Commits could not be listed.
	Note string `json:"note,omitempty"`
}

// Diff is how environment To differs from environment From.
type Diff struct {
	Source   string        `json:"source"`
	Commit   string        `json:"commit"`
	From     string        `json:"from"`
	To       string        `json:"to"`
	Services []ServiceDiff `json:"services"`
	// Same counts the services deployed identically in both.
	Same int `json:"same"`
}

// DiffOptions narrow a diff.
type DiffOptions struct {
	// Service limits the diff to one service.
	Service string
	// SourceRepo is a local clone of the service's repository; the commits
	// between the two environments' source commits are listed from it.
	SourceRepo string
}

// Diff compares two environments service by service: image (digest, or
// tag when a side has no digest), chart version, and whether both have the
// service at all.
func (r *Repo) Diff(ctx context.Context, from, to string, o DiffOptions) (*Diff, error) {
	snap, err := r.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	for _, env := range []string{from, to} {
		if err := snap.CheckEnv(env); err != nil {
			return nil, err
		}
	}
	if from == to {
		return nil, fault.Inputf("to", "both environments are %q: give two different environments, e.g. staging and prod", from)
	}
	if o.Service != "" {
		if err := snap.CheckService(o.Service); err != nil {
			return nil, err
		}
	}
	var src *gitcmd.Runner
	if o.SourceRepo != "" {
		g := gitcmd.Runner{Dir: o.SourceRepo}
		if _, err := g.Output(ctx, "rev-parse", "--git-dir"); err != nil {
			return nil, fault.Inputf("SourceRepo", "%s is not a git repository: give a local clone of the service's repository", o.SourceRepo)
		}
		src = &g
	}
	st, err := r.status(ctx, snap)
	if err != nil {
		return nil, err
	}
	return st.diff(ctx, from, to, o.Service, src), nil
}

// diff compares from and to in st; with src, it lists the source commits
// between the two sides of each service that differs.
func (st *Status) diff(ctx context.Context, from, to, svc string, src *gitcmd.Runner) *Diff {
	d := &Diff{Source: st.Source, Commit: st.Commit, From: from, To: to, Services: []ServiceDiff{}}
	for _, row := range st.Services {
		if svc != "" && row.Name != svc {
			continue
		}
		a, _ := st.Cell(row.Name, from)
		b, _ := st.Cell(row.Name, to)
		if !a.Present && !b.Present {
			continue
		}
		sd := ServiceDiff{Service: row.Name, From: side(a), To: side(b), Differs: []string{}}
		switch {
		case a.Present != b.Present:
			sd.Differs = append(sd.Differs, "presence")
		default:
			if imageDiffers(a, b) {
				sd.Differs = append(sd.Differs, "image")
			}
			if a.ChartVersion != b.ChartVersion {
				sd.Differs = append(sd.Differs, "chart")
			}
		}
		if len(sd.Differs) == 0 {
			d.Same++
			continue
		}
		if src != nil {
			sd.Commits, sd.Note = sourceCommits(ctx, *src, sd.From.SourceCommit, sd.To.SourceCommit)
		}
		d.Services = append(d.Services, sd)
	}
	return d
}

func side(c Cell) Side {
	return Side{Present: c.Present, Tag: c.Tag, Digest: c.Digest, ChartVersion: c.ChartVersion, SourceCommit: c.SourceCommit}
}

func imageDiffers(a, b Cell) bool {
	if a.Digest != "" && b.Digest != "" {
		return a.Digest != b.Digest
	}
	return a.Tag != b.Tag || a.Digest != b.Digest
}

// sourceCommits lists `git log to..from` in the service repository: what
// the From environment runs that To does not yet.
func sourceCommits(ctx context.Context, g gitcmd.Runner, from, to string) ([]SourceChange, string) {
	switch {
	case from == "":
		return nil, "the from environment's deploy has no Source-Commit trailer"
	case to == "":
		return nil, "the to environment's deploy has no Source-Commit trailer"
	}
	for _, c := range []string{from, to} {
		if _, err := g.Run(ctx, "cat-file", "-e", c+"^{commit}"); err != nil {
			return nil, fmt.Sprintf("source commit %s is not in %s (git fetch there, or give the service's own repository)", short(c), g.Dir)
		}
	}
	out, err := g.Run(ctx, "log", "--no-color", "--format=%H%x1f%s", to+".."+from)
	if err != nil {
		var ge *gitcmd.Error
		if errors.As(err, &ge) {
			return nil, "git log failed: " + strings.TrimSpace(ge.Stderr)
		}
		return nil, err.Error()
	}
	changes := []SourceChange{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if h, s, ok := strings.Cut(line, "\x1f"); ok {
			changes = append(changes, SourceChange{Commit: h, Subject: s})
		}
	}
	if len(changes) == 0 {
		return changes, "the from environment is not ahead of the to environment"
	}
	return changes, ""
}
