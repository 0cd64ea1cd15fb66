package write_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/signing/signingtest"
	"github.com/smp/delivery/internal/gitops/write"
)

// Issue #15: a person's deploy through the soak queue (deploy
// --queue-if-soaking) proves the person where staging requires signed
// commits, as a direct deploy does: the queue must not be a way around it.

// queueSignedYAML: staging requires signed approvals and commits from
// people; what runs there soaks an hour before prod takes it.
const queueSignedYAML = `version: 3
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: approval, signedApprovals: true}
  - {name: prod, sync: manual, trigger: release, approval: none, soak: 1h}
approvers: [alice]
signers:
  - login: alice
    keys: [%q]
services:
  - name: order-svc
`

func TestAPersonsQueuedDeployIsCheckedForASignature(t *testing.T) {
	t.Parallel()
	alice := signingtest.NewKey(t, "alice")
	files := map[string]string{"delivery.yaml": fmt.Sprintf(queueSignedYAML, alice.Public)}
	for _, env := range []string{"dev", "staging", "prod"} {
		files["environments/"+env+"/order-svc.yaml"] = fmt.Sprintf(envFile, env, strings.Repeat("1", 64))
	}
	bare := gitopstest.NewRemote(t, files)
	ctx := context.Background()
	signed := signedRepo(t, bare, alice.Path)
	for _, v := range []struct {
		tag string
		d   byte
	}{{"3.3.0", 'd'}, {"3.4.0", 'e'}} {
		if _, err := write.Approve(ctx, signed, write.ApproveRequest{
			Common: write.Common{By: "alice", Now: time.Now()}, Env: "staging", Service: "order-svc", Version: v.tag, Digest: img(t, "order-svc", v.tag, v.d).Digest,
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Soak runs on commit times, which are the wall clock's.
	deploy := func(r *gitops.Repo, tag string, d byte) (write.Outcome, error) {
		return write.QueueOrDeploy(ctx, r, write.DeployRequest{
			Common: write.Common{By: "alice", Now: time.Now()}, Env: "staging", Service: "order-svc", Image: img(t, "order-svc", tag, d),
		})
	}
	refused := func(what string, err error) {
		t.Helper()
		if !fault.IsRefused(err) || !strings.Contains(err.Error(), "this deploy by alice would not be signed: give --signing-key") {
			t.Fatalf("%s = %v, want a refusal saying how to sign", what, err)
		}
	}

	// Nothing soaks in staging yet: the deploy would land at once.
	before := mainOf(t, bare)
	_, err := deploy(repoFor(t, bare), "3.3.0", 'd')
	refused("an unsigned person's deploy --queue-if-soaking that lands", err)
	if got := mainOf(t, bare); got != before {
		t.Fatalf("a refused deploy moved main from %s to %s", before, got)
	}
	out, err := deploy(signed, "3.3.0", 'd')
	if err != nil || out.Action != "deploy" {
		t.Fatalf("alice's signed deploy = %+v, %v; want it deployed", out, err)
	}

	// 3.3.0 soaks in staging now: a deploy would be queued.
	before = mainOf(t, bare)
	_, err = deploy(repoFor(t, bare), "3.4.0", 'e')
	refused("an unsigned person's queued deploy", err)
	if got := mainOf(t, bare); got != before {
		t.Fatalf("a refused queued deploy moved main from %s to %s", before, got)
	}
	if ls := gitcmdtest.Git(t, bare, "ls-tree", "-r", "--name-only", "main", "state/queue"); ls != "" {
		t.Fatalf("a refused deploy was queued: %s", ls)
	}
	out, err = deploy(signed, "3.4.0", 'e')
	if err != nil || out.Action != "queue" {
		t.Fatalf("alice's signed deploy behind the soak = %+v, %v; want it queued", out, err)
	}
	if !strings.Contains(show(t, bare, "state/queue/staging/order-svc.yaml"), "tag: 3.4.0") {
		t.Errorf("the queue does not hold 3.4.0")
	}
}
