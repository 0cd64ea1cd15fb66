package dashboard

import (
	"context"
	"fmt"
	"time"

	"github.com/smp/delivery/internal/gitops/history"
)

// ServiceReadsBothWays reads what the service page of svc shows from the
// history at the current view's head twice: from the view's index (what
// the page shows) and with a walk of its own (history.Repo.Service, what a
// page read before issue #16). The walk reads HEAD: the caller lands no
// commit after the view's refresh. Each is the page's timeline, metrics
// and trend, and the releases the gate figures are asked for.
func ServiceReadsBothWays(ctx context.Context, d *Dashboard, svc string) (fromIndex, fromWalk any, err error) {
	v := d.current()
	if v == nil || v.err != nil {
		return nil, nil, fmt.Errorf("no view")
	}
	envs, now := v.status.Environments, d.o.Now()
	x, err := d.indexOf(ctx, v)
	if err != nil {
		return nil, nil, err
	}
	a, err := readService(x, envs, svc, d.o.Window, now)
	if err != nil {
		return nil, nil, err
	}
	b, err := readServiceWalk(ctx, v.repo, envs, svc, d.o.Window, now)
	if err != nil {
		return nil, nil, err
	}
	type shown struct {
		Reads    *serviceReads
		Releases []gateRelease
	}
	return shown{a, releasesBefore(a.timeline, envs, earlierReleases)},
		shown{b, releasesBefore(b.timeline, envs, earlierReleases)}, nil
}

// ReadEveryServicePageWithAWalk makes d's service pages read the history
// as they did before the index: one walk per page and head. The
// benchmarks compare the two side by side.
func ReadEveryServicePageWithAWalk(d *Dashboard) {
	d.reads = func(ctx context.Context, v *view, svc string, now time.Time) (*serviceReads, error) {
		return readServiceWalk(ctx, v.repo, v.status.Environments, svc, d.o.Window, now)
	}
}

// readServiceWalk is readService as it was before the index: one walk of
// the history per service page.
func readServiceWalk(ctx context.Context, repo *history.Repo, envs []string, svc string, window time.Duration, now time.Time) (*serviceReads, error) {
	rep, err := repo.Service(ctx, svc, serviceOptions(envs, window, now))
	if err != nil {
		return nil, fmt.Errorf("read the history of %s: %w", svc, err)
	}
	return fromReport(rep, envs, svc), nil
}
