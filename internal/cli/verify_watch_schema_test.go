package cli

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
)

// TestAFailedGateDoesNotRollBackAcrossAContractMigration: 6.0.0's
// migration 0006 drops a column 5.0.0 still reads. Its gate fails in prod
// (onGateFailure: rollback), but the watch, given --migrations image, reads
// from the registry what the running image recorded, refuses the rollback
// that would break prod a second time, and holds instead, saying the two
// ways out. No rollback commit is written.
func TestAFailedGateDoesNotRollBackAcrossAContractMigration(t *testing.T) {
	t.Parallel()
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	repo := strings.TrimPrefix(reg.URL, "http://") + "/smp/order-svc"
	refs := map[string]string{"5.0.0": pushRecordedImage(t, repo, "5.0.0", 5), "6.0.0": pushRecordedImage(t, repo, "6.0.0", 6)}
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml": strings.Replace(strings.Replace(watchDelivery, "ghcr.io/smp/order-svc", repo, 1), "notifications:\n  slack:\n    - webhookEnv: SLACK_WEBHOOK\n", "", 1),
	})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir()}
	for _, tag := range []string{"5.0.0", "6.0.0"} {
		if code, _, stderr := smpctl(t, env, "deploy", "--env", "prod", "--service", "order-svc", "--by", "ci", "--image", refs[tag]); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", tag, code, stderr)
		}
	}

	prom := gatePrometheus(t, "5.0.0", "6.0.0", "prod")

	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	code, stdout, stderr := smpctl(t, env, "verify", "--prometheus", prom.URL, "--env", "prod", "--service", "order-svc",
		"--window", "10s", "--for", "2m", "--every", "1s", "--failure-limit", "2", "--migrations", "image")
	if code != 1 || !strings.Contains(stdout, "hold: ") || !strings.Contains(stdout, "left: the rollback was refused") || !strings.Contains(stdout, "0006") {
		t.Fatalf("verify --for across a contract migration: exit %d, want 1 with a hold and the refusal\n%s%s", code, stdout, stderr)
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") == before {
		t.Fatal("nothing was written: want the hold")
	}
	msg := gitcmdtest.Git(t, bare, "log", "-1", "--format=%B", "main")
	if !strings.Contains(msg, "hold(prod): order-svc") || !strings.Contains(msg, "Gate-Verdict: failed") || strings.Contains(msg, "rollback(") {
		t.Errorf("the watch's commit:\n%s", msg)
	}
	if envFile := gitcmdtest.Git(t, bare, "show", "main:environments/prod/order-svc.yaml"); !strings.Contains(envFile, "tag: 6.0.0") {
		t.Errorf("prod no longer pins 6.0.0:\n%s", envFile)
	}
	if hold := gitcmdtest.Git(t, bare, "show", "main:state/holds/prod/order-svc.yaml"); !strings.Contains(hold, "rollback refused") {
		t.Errorf("the hold does not say the rollback was refused:\n%s", hold)
	}
}
