package write_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/write"
)

// TestRequireOIDCRefusesATypedRun: in an environment with requireOIDC, a
// write that records a CI run (--run: what lets a deploy through unsigned)
// must have proven it (smpctl --oidc sets RunProven); a typed one is refused
// with exit 1 and nothing is written. Elsewhere, and for a person's write
// (no --run), nothing changes.
func TestRequireOIDCRefusesATypedRun(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml": "version: 3\nenvironments:\n  - {name: dev, sync: automated, trigger: main, approval: none, requireOIDC: true}\n" +
			"  - {name: qa, sync: manual, trigger: manual, approval: none}\nservices:\n  - name: order-svc\n    image: ghcr.io/smp/order-svc\n",
		"environments/dev/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.1.0\n  digest: sha256:" + strings.Repeat("1", 64) + "\n",
		"environments/qa/order-svc.yaml":  "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.1.0\n  digest: sha256:" + strings.Repeat("1", 64) + "\n",
	})
	ctx := context.Background()
	repo := repoFor(t, bare)
	run := "https://github.com/smp/order-svc/actions/runs/7"
	common := func(proven bool) write.Common {
		return write.Common{By: "ci", Run: run, RunProven: proven, Now: time.Now()}
	}
	head := func() string { return gitcmdtest.Git(t, bare, "rev-parse", "main") }
	before := head()

	deploy := func(env string, c write.Common, tag string, d byte) error {
		_, err := write.Deploy(ctx, repo, write.DeployRequest{Common: c, Env: env, Service: "order-svc", Image: img(t, "order-svc", tag, d)})
		return err
	}
	err := deploy("dev", common(false), "3.2.0", '2')
	if !errors.Is(err, write.ErrRunNotProven) || !fault.IsRefused(err) ||
		!strings.Contains(err.Error(), "dev requires CI writes to prove their run (requireOIDC in delivery.yaml), and this deploy gives --run "+run+" without proof: run it from the CD with --oidc") {
		t.Fatalf("a typed --run in dev: %v, want ErrRunNotProven (exit 1)", err)
	}
	_, err = write.PlaceHold(ctx, repo, write.HoldRequest{Common: common(false), Env: "dev", Service: "order-svc", Reason: "x"})
	if !errors.Is(err, write.ErrRunNotProven) {
		t.Fatalf("a hold with a typed --run in dev: %v, want ErrRunNotProven", err)
	}
	if h := head(); h != before {
		t.Fatalf("a refused write moved main to %s", h)
	}
	if err := deploy("dev", common(true), "3.2.0", '2'); err != nil {
		t.Fatalf("a proven run in dev: %v", err)
	}
	if err := deploy("qa", common(false), "3.2.0", '2'); err != nil {
		t.Fatalf("a typed --run in qa, which does not require OIDC: %v", err)
	}
	person := common(false)
	person.Run = ""
	if err := deploy("dev", person, "3.3.0", '3'); err != nil {
		t.Fatalf("a person's deploy (no --run) in dev: %v", err)
	}

	// requireOIDC is format version 3: an older file is told to say so.
	_, err = delivery.Parse([]byte("version: 2\nenvironments:\n  - {name: dev, sync: automated, trigger: main, approval: none, requireOIDC: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "environments[0].requireOIDC: requireOIDC was added in format version 3") {
		t.Fatalf("requireOIDC in version 2: %v", err)
	}
}
