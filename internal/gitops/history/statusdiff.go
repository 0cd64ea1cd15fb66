package history

import (
	"context"
	"slices"
	"strings"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
)

// Diff compares environments from and to (one service's rows with svc set)
// in a matrix already read: what Repo.Diff returns at s.Commit without a
// source repository, with no second read of the files or the history — a
// reader that holds the matrix (the dashboard) pays for a diff with a loop.
// Its errors are Repo.Diff's: bad input for an unknown environment or
// service.
func (s *Status) Diff(from, to, svc string) (*Diff, error) {
	for _, env := range []string{from, to} {
		if err := delivery.CheckName("environment", env); err != nil {
			return nil, fault.Invalidf("%v", err)
		}
		if !slices.Contains(s.Environments, env) {
			return nil, fault.Invalidf("unknown environment %q: use one of %s (delivery.yaml at %s)", env, strings.Join(s.Environments, ", "), short(s.Commit))
		}
	}
	if from == to {
		return nil, fault.Inputf("to", "both environments are %q: give two different environments, e.g. staging and prod", from)
	}
	if svc != "" {
		if err := delivery.CheckName("service", svc); err != nil {
			return nil, fault.Invalidf("%v", err)
		}
		if !slices.ContainsFunc(s.Services, func(r ServiceStatus) bool { return r.Name == svc }) {
			return nil, fault.Invalidf("unknown service %q: it is neither in delivery.yaml nor has a file under environments/ (add it with smpctl gitops add-service %s)", svc, svc)
		}
	}
	// Without a source repository diff runs no command: the context only
	// reaches sourceCommits.
	return s.diff(context.Background(), from, to, svc, nil), nil
}
