package daemon

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/local/cluster"
)

// TestLiveCellsSayWhatTheLocalRuntimeRuns maps the runtime's status onto
// the dashboard's cells: a blue/green service awaiting promotion, an
// environment not synced since git moved, one the runtime does not know,
// a failed sync. TestLocalEnvironmentEndToEnd reads the same cells off the
// page of a running daemon.
func TestLiveCellsSayWhatTheLocalRuntimeRuns(t *testing.T) {
	t.Parallel()
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	cell := func(env, digest, strategy string) history.Cell {
		return history.Cell{Environment: env, Service: "order-svc", Present: true, Digest: digest, Strategy: strategy}
	}
	st := &history.Status{
		Environments: []string{"dev", "staging", "prod", "qa"},
		Services: []history.ServiceStatus{
			{Name: "order-svc", Environments: []history.Cell{
				cell("dev", d("2"), ""), cell("staging", d("2"), ""), cell("prod", d("2"), "blueGreen"), cell("qa", d("1"), ""),
			}},
			// Not deployed anywhere: no cell.
			{Name: "partner-svc", Environments: []history.Cell{{Environment: "dev", Service: "partner-svc"}}},
		},
	}
	rev := func(digest string) *cluster.RevisionStatus {
		return &cluster.RevisionStatus{Digest: digest, Replicas: 2, Ready: 2}
	}
	rt := cluster.Status{Envs: []cluster.EnvStatus{
		{Name: "dev", SyncStatus: cluster.SyncSynced, Services: []cluster.ServiceStatus{
			{Name: "order-svc", Health: cluster.HealthHealthy, Active: rev(d("2"))}}},
		{Name: "staging", SyncStatus: cluster.SyncOutOfSync, SyncError: "pull image: connection refused", Services: []cluster.ServiceStatus{
			{Name: "order-svc", Health: cluster.HealthHealthy, Active: rev(d("1"))}}},
		{Name: "prod", SyncStatus: cluster.SyncSynced, Services: []cluster.ServiceStatus{
			{Name: "order-svc", Strategy: cluster.StrategyBlueGreen, Health: cluster.HealthPaused, Message: "2.0.0 on the preview URL, awaiting promote",
				Active: rev(d("1")), Preview: rev(d("2"))}}},
	}}
	got, err := LiveReader(func(context.Context) (cluster.Status, error) { return rt, nil })(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	want := []dashboard.LiveCell{
		{Environment: "dev", Service: "order-svc", Sync: "Synced", Health: "Healthy", Active: d("2")},
		{Environment: "staging", Service: "order-svc", Sync: "OutOfSync", Health: "Healthy", Active: d("1"), Drift: true,
			Message: "last sync failed: pull image: connection refused"},
		{Environment: "prod", Service: "order-svc", Sync: "Synced", Health: "Paused", Rollout: "Paused (paused)",
			Active: d("1"), Preview: d("2"), Message: "2.0.0 on the preview URL, awaiting promote"},
		{Environment: "qa", Service: "order-svc",
			Problem: "no environment qa in the local runtime (smpctl local up reads delivery.yaml at start: restart it)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells:\n got %+v\nwant %+v", got, want)
	}

	// A service git deploys that the runtime has not synced yet.
	rt.Envs[0].Services = nil
	got, _ = LiveReader(func(context.Context) (cluster.Status, error) { return rt, nil })(context.Background(), st)
	if c := got[0]; c.Health != cluster.HealthMissing || !c.Drift || c.Message != "not in the local runtime yet: smpctl sync dev" {
		t.Errorf("dev without the service: %+v", c)
	}

	// A runtime that does not answer is the reader's error: the page's banner.
	down := errors.New("dial tcp 127.0.0.1:1: connection refused")
	if _, err := LiveReader(func(context.Context) (cluster.Status, error) { return cluster.Status{}, down })(context.Background(), st); !errors.Is(err, down) {
		t.Errorf("err = %v, want %v", err, down)
	}
}
