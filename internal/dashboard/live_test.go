package dashboard_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/history"
)

// scriptedEngine is a LiveReader standing in for a cluster: it returns
// what the test sets. Its twin on a real cluster (kube-apiserver with the
// real Argo Rollouts controller) is internal/cli's
// TestStatusLiveShowsWhatTheClusterRuns, which serves `smpctl dashboard
// --live` on it and reads the page.
type scriptedEngine struct {
	mu    sync.Mutex
	cells []dashboard.LiveCell
	err   error
	reads int
}

func (e *scriptedEngine) set(err error, cells ...dashboard.LiveCell) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cells, e.err = cells, err
}

func (e *scriptedEngine) read(context.Context, *history.Status) ([]dashboard.LiveCell, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reads++
	return append([]dashboard.LiveCell(nil), e.cells...), e.err
}

// TestTheMatrixShowsWhatTheEngineRuns: with Options.Live each cell adds
// what the engine runs, read at every poll; a change on the engine alone
// (no new commit) is a change of the view that /events announces; an
// engine that cannot be read is said above the matrix, which keeps git's
// side.
func TestTheMatrixShowsWhatTheEngineRuns(t *testing.T) {
	t.Parallel()
	gitDigest := "sha256:" + strings.Repeat("a", 64)
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml": "apiVersion: delivery.smp.vn/v1\nkind: Delivery\nenvironments:\n" +
			"  - {name: prod, sync: manual, trigger: release, approval: release-manager}\nreleaseManagers: [minh]\nservices:\n  - name: order-svc\n    critical: true\n",
		"environments/prod/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.3.0\n  digest: " + gitDigest + "\nstrategy: blueGreen\n",
	})
	engine := &scriptedEngine{}
	engine.set(nil, dashboard.LiveCell{Environment: "prod", Service: "order-svc", Sync: "Synced", Health: "Healthy", Rollout: "Healthy", Active: gitDigest})
	d := newDashboard(t, bare, dashboard.Options{Live: engine.read, LiveWhere: "the cluster (context prod)"})
	ctx := context.Background()
	if _, err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	head := gitcmdtest.Git(t, bare, "rev-parse", "main")
	_, body, doc := get(t, d, "/")
	cell := row(t, doc, "s-order-svc")[1]
	if !strings.HasPrefix(cell, "3.3.0") || !strings.Contains(cell, "Synced · Healthy Healthy") || strings.Contains(cell, "not git's") {
		t.Errorf("order-svc in prod = %q, want 3.3.0, Synced · Healthy and the Rollout's phase", cell)
	}
	if !strings.Contains(body, `data-head="`+head+` live:`) {
		t.Errorf("the page's key does not carry the engine's state:\n%s", body)
	}

	// Nothing changed: no news for the open pages.
	if changed, err := d.Refresh(ctx); changed || err != nil {
		t.Errorf("a poll with nothing new: changed %v, %v", changed, err)
	}

	// The engine moves with no commit: a new release on the preview and
	// the active one no longer git's.
	other, preview := "sha256:"+strings.Repeat("b", 64), "sha256:"+strings.Repeat("c", 64)
	engine.set(nil, dashboard.LiveCell{Environment: "prod", Service: "order-svc", Sync: "OutOfSync", Health: "Suspended",
		Rollout: "Paused (paused)", Active: other, Preview: preview, Drift: true})
	if changed, err := d.Refresh(ctx); !changed || err != nil {
		t.Fatalf("the engine changed, the head did not: Refresh = %v, %v; want a change the pages are told", changed, err)
	}
	_, _, doc = get(t, d, "/")
	cell = row(t, doc, "s-order-svc")[1]
	for _, want := range []string{"OutOfSync · Suspended", "Paused (paused)", "not git's"} {
		if !strings.Contains(cell, want) {
			t.Errorf("order-svc in prod = %q, want %q", cell, want)
		}
	}

	// The engine cannot be read: said once above the matrix, git's side stays.
	engine.set(errors.New("Kubernetes API server unreachable: Applications of prod in context prod"))
	if changed, _ := d.Refresh(ctx); !changed {
		t.Fatal("an engine that stopped answering is not a change of the view")
	}
	_, _, doc = get(t, d, "/")
	banner := byID(doc, "live-error")
	if banner == nil || !strings.Contains(text(banner), "What the cluster (context prod) runs could not be read: Kubernetes API server unreachable") {
		t.Fatalf("no banner saying the engine could not be read; the page:\n%s", text(doc))
	}
	if cell = row(t, doc, "s-order-svc")[1]; !strings.HasPrefix(cell, "3.3.0") || strings.Contains(cell, "Synced") {
		t.Errorf("order-svc in prod while the engine is unreadable = %q, want git's 3.3.0 and no engine state", cell)
	}
}
