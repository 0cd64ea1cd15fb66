package history

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
)

func TestApprovalsListsTheRecordedApprovalsOfOneEnvironment(t *testing.T) {
	t.Parallel()
	f := story(t)
	f.write("state/approvals/prod/partner-svc/1.0.0.yaml", "version: 1.0.0\ndigest: "+digest('c')+"\napprovedBy: minh\nat: 2026-11-03T10:00:00Z\n")
	f.write("state/approvals/prod/partner-svc/2.0.0.yaml", "version: [not yaml\n")
	f.write("state/approvals/prod/.gitkeep", "")
	f.write("state/approvals/staging/order-svc/3.3.0-rc.1.yaml", "version: 3.3.0-rc.1\napprovedBy: alice\n")
	f.commit(t0.Add(40*time.Hour), "approvals by hand")
	r := f.open(t)

	got, err := r.Approvals(context.Background(), "", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("prod approvals = %+v, want order-svc 3.3.0, partner-svc 1.0.0 and the broken 2.0.0", got)
	}
	if a := got[0]; a.Service != "order-svc" || a.Version != "3.3.0" || a.ApprovedBy != "carol" || a.Error != "" {
		t.Errorf("first = %+v, want order-svc 3.3.0 approved by carol", a)
	}
	if a := got[1]; a.Service != "partner-svc" || a.Digest != digest('c') || a.ApprovedBy != "minh" || !a.At.Equal(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("second = %+v, want partner-svc 1.0.0 by minh with its digest and time", a)
	}
	if a := got[2]; a.Version != "2.0.0" || a.Error == "" || a.ApprovedBy != "" {
		t.Errorf("broken file = %+v, want version 2.0.0 (from its name) with an error", a)
	}

	if _, err := r.Approvals(context.Background(), "", "../prod"); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("env ../prod: err = %v, want bad input", err)
	}
	none, err := r.Approvals(context.Background(), "", "dev")
	if err != nil || len(none) != 0 {
		t.Errorf("dev approvals = %+v, %v; want none", none, err)
	}
}

func TestStatusNamesTheApproverAndTheRunOfEachDeploy(t *testing.T) {
	t.Parallel()
	f := story(t)
	f.change(change{action: "promote", env: "staging", svc: "partner-svc", tag: "1.0.0-rc.1", digest: digest('c'), from: "dev",
		by: "alice", approvedBy: "lan", run: "https://ci.example/runs/42", at: t0.Add(40 * time.Hour)})
	st, err := f.open(t).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.Cell("partner-svc", "staging")
	if c.ApprovedBy != "lan" || c.PipelineRun != "https://ci.example/runs/42" || c.DeployedBy != "alice" {
		t.Errorf("cell = %+v, want approved by lan, run 42, deployed by alice", c)
	}
	if st.Config == nil || len(st.Config.Environments) != 3 {
		t.Errorf("status config = %+v, want delivery.yaml's", st.Config)
	}
}
