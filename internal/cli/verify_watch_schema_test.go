package cli

import (
	"database/sql"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
)

// TestAFailedGateDoesNotRollBackAcrossAContractMigration: 6.0.0's
// migration 0006 drops a column 5.0.0 still reads. Its gate fails in prod
// (onGateFailure: rollback), but the watch, by default (--migrations
// image), reads from the registry what the running image recorded, refuses the rollback
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
		"--window", "10s", "--for", "2m", "--every", "1s", "--failure-limit", "2")
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

// TestAFailedGateHoldsWhenTheSchemaCheckCannotDecide: 6.0.0's gate fails
// in prod (onGateFailure: rollback), and the schema check cannot say
// whether 5.0.0 runs on the schema 6.0.0 applied — the registry does not
// answer, or the database's schema_migrations is dirty. Nothing says the
// rollback is safe, so it is not written; but the release is not left
// unguarded either: the watch commits a hold that says why, and exits 1
// saying what a person must do.
func TestAFailedGateHoldsWhenTheSchemaCheckCannotDecide(t *testing.T) {
	t.Parallel()
	prom := gatePrometheus(t, "5.0.0", "6.0.0", "prod")

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	up := strings.TrimPrefix(reg.URL, "http://") + "/smp/order-svc"
	down := httptest.NewServer(nil)
	down.Close() // a registry that does not answer
	downRepo := strings.TrimPrefix(down.URL, "http://") + "/smp/order-svc"

	for _, tc := range []struct {
		name, repo string
		refs       map[string]string
		env        func(t *testing.T) map[string]string
		want       string
	}{
		{
			name: "the registry does not answer",
			repo: downRepo,
			refs: map[string]string{"5.0.0": downRepo + ":5.0.0@sha256:" + strings.Repeat("a", 64), "6.0.0": downRepo + ":6.0.0@sha256:" + strings.Repeat("b", 64)},
			env:  func(*testing.T) map[string]string { return map[string]string{} },
			want: "connect",
		},
		{
			name: "the database's schema is dirty",
			repo: up,
			refs: map[string]string{"5.0.0": pushRecordedImage(t, up, "5.0.0", 5), "6.0.0": pushRecordedImage(t, up, "6.0.0", 6)},
			env: func(t *testing.T) map[string]string {
				dsn := orderSvcDatabaseAt(t, 6)
				db, err := sql.Open("mysql", dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec("UPDATE schema_migrations SET dirty = 1"); err != nil {
					t.Fatal(err)
				}
				return map[string]string{"SMP_DATABASE_DSN": dsn}
			},
			want: "dirty",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bare := gitopstest.NewRemote(t, map[string]string{
				"delivery.yaml": strings.Replace(strings.Replace(watchDelivery, "ghcr.io/smp/order-svc", tc.repo, 1), "notifications:\n  slack:\n    - webhookEnv: SLACK_WEBHOOK\n", "", 1),
			})
			env := tc.env(t)
			env["SMP_GITOPS"], env["SMP_CACHE_DIR"] = bare, t.TempDir()
			for _, tag := range []string{"5.0.0", "6.0.0"} {
				if code, _, stderr := smpctl(t, env, "deploy", "--env", "prod", "--service", "order-svc", "--by", "ci", "--image", tc.refs[tag]); code != 0 {
					t.Fatalf("deploy %s: exit %d\n%s", tag, code, stderr)
				}
			}
			before := gitcmdtest.Git(t, bare, "rev-parse", "main")
			code, stdout, stderr := smpctl(t, env, "verify", "--prometheus", prom.URL, "--env", "prod", "--service", "order-svc",
				"--window", "10s", "--for", "2m", "--every", "1s", "--failure-limit", "2")
			if code != 1 || !strings.Contains(stdout, "hold: hold(prod): order-svc") || !strings.Contains(stdout, "left: the rollback was not written: the schema check could not decide") ||
				!strings.Contains(stdout, tc.want) || !strings.Contains(stdout, "A person must") {
				t.Fatalf("verify --for, the schema check undecided: exit %d, want 1 with a hold and what a person must do\n%s%s", code, stdout, stderr)
			}
			if gitcmdtest.Git(t, bare, "rev-parse", "main") == before {
				t.Fatal("nothing was written: want the hold")
			}
			if msg := gitcmdtest.Git(t, bare, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, "hold(prod): order-svc") || !strings.Contains(msg, "Gate-Verdict: failed") {
				t.Errorf("the watch's commit:\n%s", msg)
			}
			if envFile := gitcmdtest.Git(t, bare, "show", "main:environments/prod/order-svc.yaml"); !strings.Contains(envFile, "tag: 6.0.0") {
				t.Errorf("prod no longer pins 6.0.0:\n%s", envFile)
			}
			if hold := gitcmdtest.Git(t, bare, "show", "main:state/holds/prod/order-svc.yaml"); !strings.Contains(hold, "the schema check could not decide") {
				t.Errorf("the hold does not say why the rollback was not written:\n%s", hold)
			}
		})
	}
}
