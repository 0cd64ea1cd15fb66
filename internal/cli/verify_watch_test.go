package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/local/promserver"
	"github.com/smp/delivery/internal/notify/notifycontract"
	"github.com/smp/delivery/internal/testkit/kubeconfigtest"
	"github.com/smp/delivery/internal/testkit/promtest"
	"github.com/smp/delivery/internal/testkit/testctx"
	"github.com/smp/delivery/internal/testkit/testimage"
)

const watchDelivery = `apiVersion: delivery.smp.vn/v1
kind: Delivery
version: 3
environments:
  - {name: dev, sync: manual, trigger: main, approval: none, onGateFailure: notify}
  - {name: staging, sync: manual, trigger: rc, approval: none, onGateFailure: hold}
  - {name: prod, sync: manual, trigger: release, approval: none}
services:
  - name: order-svc
    image: ghcr.io/smp/order-svc
notifications:
  slack:
    - webhookEnv: SLACK_WEBHOOK
`

// prodBlueGreen is the prod environment file gitops add-service writes for
// a critical service: a failed gate there aborts the Rollout first.
const prodBlueGreen = "strategy: blueGreen\nblueGreen:\n  autoPromotionEnabled: false\n  scaleDownDelaySeconds: 300\n"

// TestAFailedGateRollsBackWithoutAPerson is #17's gate-driven rollback on
// a real Prometheus scraping real servers: 3.3.0 answers 500 half the
// time, 3.2.0 is its baseline. verify --for in prod (onGateFailure
// default: rollback) writes the rollback with the gate's figures and a
// hold, and tells Slack, with no rollback typed; the Rollout's abort fails
// (no runtime) and the rollback is written anyway, saying what is left. In
// staging (onGateFailure: hold) it holds — and a second watch of the same
// release writes nothing twice. In dev (onGateFailure: notify) it only
// notifies, and a second watch of the same release does not post again:
// the first recorded the notification in git under its Change-Id. A
// Prometheus that cannot be reached rolls nothing back: the gate is
// unknown, its notification recorded and sent once however often the job
// is re-run.
func TestAFailedGateRollsBackWithoutAPerson(t *testing.T) {
	t.Parallel()
	slack := notifycontract.NewSlack(t)
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml":                    watchDelivery,
		"environments/prod/order-svc.yaml": prodBlueGreen,
	})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir(), "SLACK_WEBHOOK": slack.WebhookURL()}
	digests := map[string]string{"3.2.0": strings.Repeat("a", 64), "3.3.0": strings.Repeat("b", 64)}
	for _, e := range []string{"dev", "staging", "prod"} {
		for _, tag := range []string{"3.2.0", "3.3.0"} {
			if code, _, stderr := smpctl(t, env, "deploy", "--env", e, "--service", "order-svc", "--by", "ci",
				"--image", "ghcr.io/smp/order-svc:"+tag+"@sha256:"+digests[tag]); code != 0 {
				t.Fatalf("deploy %s to %s: exit %d\n%s", tag, e, code, stderr)
			}
		}
	}
	sent := len(slack.Requests())

	prom := gatePrometheus(t, "3.2.0", "3.3.0", "dev", "staging", "prod")
	watchArgs := func(e string) []string {
		return []string{"verify", "--prometheus", prom.URL, "--env", e, "--service", "order-svc",
			"--window", "10s", "--for", "2m", "--every", "1s", "--failure-limit", "2", "--dir", t.TempDir(),
			"--migrations", "none"} // the images are made up: no registry holds them
	}

	t.Run("prod rolls back", func(t *testing.T) {
		code, stdout, stderr := smpctl(t, env, watchArgs("prod")...)
		if code != 1 || !strings.Contains(stdout, "rollback: rollback(prod): order-svc → 3.2.0") {
			t.Fatalf("verify --for: exit %d, want 1 with the rollback\n%s%s", code, stdout, stderr)
		}
		for _, want := range []string{"abort: failed", "schema: not checked (--migrations none)", "left: check the Rollout"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		msg := gitcmdtest.Git(t, bare, "log", "-1", "--format=%B", "main")
		for _, want := range []string{"rollback(prod): order-svc → 3.2.0", "Gate-Verdict: failed", "Gate-Version: 3.3.0", "Gate-Baseline: 3.2.0", "Gate-Failed: error rate", "Deployed-By: smpctl-gate", "Change-Id: gate-rollback-prod-order-svc-bbbbbbbbbbbbbbbb"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the rollback commit lacks %q:\n%s", want, msg)
			}
		}
		if hold := gitcmdtest.Git(t, bare, "show", "main:state/holds/prod/order-svc.yaml"); !strings.Contains(hold, "metric gate failed") {
			t.Errorf("the hold does not say why:\n%s", hold)
		}
		msgs := slack.Requests()
		if len(msgs) != sent+1 || !strings.Contains(string(msgs[len(msgs)-1].Raw), "error rate") {
			t.Errorf("want one Slack message with the gate's figures, got %d:\n%v", len(msgs)-sent, msgs[sent:])
		}
		sent = len(msgs)
	})

	t.Run("staging holds, once", func(t *testing.T) {
		for run := range 2 {
			before := gitcmdtest.Git(t, bare, "rev-parse", "main")
			code, stdout, stderr := smpctl(t, env, watchArgs("staging")...)
			if code != 1 || !strings.Contains(stdout, "hold: ") {
				t.Fatalf("run %d: exit %d, want 1 with a hold\n%s%s", run, code, stdout, stderr)
			}
			moved := gitcmdtest.Git(t, bare, "rev-parse", "main") != before
			if moved != (run == 0) {
				t.Errorf("run %d moved main: %v (the second watch must write nothing)\n%s", run, moved, stdout)
			}
		}
		if got := gitcmdtest.Git(t, bare, "log", "-1", "--format=%B", "main"); !strings.Contains(got, "hold(staging): order-svc") || !strings.Contains(got, "Gate-Error-Rate: 0.") {
			t.Errorf("the hold commit:\n%s", got)
		}
		if n := len(slack.Requests()) - sent; n != 1 {
			t.Errorf("%d Slack messages for two watches of one held release, want 1", n)
		}
		sent = len(slack.Requests())
	})

	t.Run("dev notifies, once", func(t *testing.T) {
		for run := range 2 {
			before := gitcmdtest.Git(t, bare, "rev-parse", "main")
			code, stdout, stderr := smpctl(t, env, watchArgs("dev")...)
			if code != 1 || !strings.Contains(stdout, "notify: ") {
				t.Fatalf("run %d: exit %d, want 1 with the notification\n%s%s", run, code, stdout, stderr)
			}
			moved := gitcmdtest.Git(t, bare, "rev-parse", "main") != before
			if moved != (run == 0) {
				t.Errorf("run %d moved main: %v (the second watch must write nothing)\n%s", run, moved, stdout)
			}
		}
		msg := gitcmdtest.Git(t, bare, "log", "-1", "--format=%B", "main")
		if !strings.Contains(msg, "notify(dev): order-svc gate-failure 3.3.0") || !strings.Contains(msg, "Change-Id: gate-notify-dev-order-svc-bbbbbbbbbbbbbbbb") {
			t.Errorf("the notification's record:\n%s", msg)
		}
		if ob := gitcmdtest.Git(t, bare, "show", "main:state/notifications/dev/order-svc.yaml"); !strings.Contains(ob, "changeID: gate-notify-dev-order-svc-bbbbbbbbbbbbbbbb") {
			t.Errorf("state/notifications/dev/order-svc.yaml does not record the notification:\n%s", ob)
		}
		msgs := slack.Requests()
		if n := len(msgs) - sent; n != 1 || !strings.Contains(string(msgs[len(msgs)-1].Raw), "error rate") {
			t.Errorf("%d Slack messages for two watches of one release in dev, want 1 with the gate's figures:\n%v", n, msgs[sent:])
		}
		sent = len(msgs)
	})

	t.Run("Prometheus unreachable is unknown, never a rollback", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + ln.Addr().String()
		ln.Close()
		before := gitcmdtest.Git(t, bare, "rev-parse", "main")
		args := watchArgs("prod")
		args[2] = closed
		args[10] = "3s"
		code, stdout, stderr := smpctl(t, env, args...)
		if code != 1 || !strings.Contains(stdout, "watch unknown") || !strings.Contains(stdout, "left: a person decides") {
			t.Fatalf("exit %d, want 1 and unknown\n%s%s", code, stdout, stderr)
		}
		// Only the notification's record is written: no rollback, no hold.
		changed := gitcmdtest.Git(t, bare, "diff", "--name-only", before, "main")
		if changed != "state/notifications/prod/order-svc.yaml" {
			t.Errorf("an unknown gate changed %q, want only its notification's record", changed)
		}
		if n := len(slack.Requests()) - sent; n != 1 {
			t.Errorf("%d Slack messages for an unknown gate, want 1 (gate-failure)", n)
		}
		// The job re-run, unknown again about the same release: nobody is
		// told twice, and nothing more is written.
		recorded := gitcmdtest.Git(t, bare, "rev-parse", "main")
		code, stdout, stderr = smpctl(t, env, args...)
		if code != 1 || !strings.Contains(stdout, "watch unknown") || !strings.Contains(stdout, "already notified") {
			t.Fatalf("re-run: exit %d, want 1, unknown and already notified\n%s%s", code, stdout, stderr)
		}
		if gitcmdtest.Git(t, bare, "rev-parse", "main") != recorded {
			t.Error("the re-run of an unknown gate wrote to git again")
		}
		if n := len(slack.Requests()) - sent; n != 1 {
			t.Errorf("%d Slack messages after a re-run of an unknown gate, want still 1", n)
		}
	})
}

func TestVerifyForRefusesBadInput(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": watchDelivery})
	env := map[string]string{"SMP_CACHE_DIR": t.TempDir()}
	base := []string{"verify", "--prometheus", "http://127.0.0.1:1", "--service", "order-svc"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no GitOps repository", []string{"--env", "prod", "--for", "1m"}, "give the GitOps repository with --gitops"},
		{"--for neither a duration nor soak", []string{"--env", "prod", "--for", "forever"}, "give a duration (30m) or soak"},
		{"--every without --for", []string{"--env", "prod", "--every", "1s"}, "go with --for"},
		{"--sync without --for", []string{"--env", "prod", "--sync"}, "go with --for"},
		{"--sync-timeout without --sync", []string{"--env", "prod", "--for", "1m", "--gitops", bare, "--sync-timeout", "1m"}, "add --sync"},
		{"an unknown environment", []string{"--env", "qa", "--for", "1m", "--gitops", bare}, "no such environment"},
		{"nothing deployed", []string{"--env", "prod", "--for", "1m", "--gitops", bare}, "runs nothing in prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := smpctl(t, env, append(base, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want 2 and %q:\n%s", code, tc.want, stderr)
			}
		})
	}
}

// TestVerifyForSyncReachesTheClusterFirst: with --sync on a cluster, the
// watch asks the cluster for the service's Application before it watches,
// so a kubeconfig that cannot be used is said at once (exit 1), not after
// the watch has written a rollback it cannot apply. Nothing is written.
func TestVerifyForSyncReachesTheClusterFirst(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": watchDelivery})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir()}
	if code, _, stderr := smpctl(t, env, "deploy", "--env", "prod", "--service", "order-svc", "--by", "ci",
		"--image", "ghcr.io/smp/order-svc:3.3.0@sha256:"+strings.Repeat("b", 64)); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(kubeconfigtest.Unreachable), 0o600); err != nil {
		t.Fatal(err)
	}
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	code, stdout, stderr := smpctl(t, env, "verify", "--prometheus", "http://127.0.0.1:1", "--env", "prod", "--service", "order-svc",
		"--for", "10m", "--sync", "--kubeconfig", kc)
	want := "--sync: reach the engine that applies a rollback: Kubernetes API server unreachable: Application argocd/smp-order-svc-prod in context down"
	if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stdout, "watch") {
		t.Fatalf("exit %d, want 1 before any watch, saying %q:\n%s%s", code, want, stdout, stderr)
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") != before {
		t.Error("a watch whose cluster cannot be reached wrote to git")
	}
}

// gatePrometheus starts a real Prometheus scraping two test servers with
// traffic in each of envs: good answers as version baseline, bad (500 on
// half its requests) as version release. The baseline is scraped first, so
// Prometheus sees the release as the newer version.
func gatePrometheus(t *testing.T, baseline, release string, envs ...string) *promserver.Server {
	t.Helper()
	return gatePrometheusWith(t, baseline, release, testimage.ModeErrors, envs...)
}

// gatePrometheusWith is gatePrometheus with the release's servers in mode
// (testimage.ModeOK: a release whose gate passes).
func gatePrometheusWith(t *testing.T, baseline, release, mode string, envs ...string) *promserver.Server {
	t.Helper()
	ctx := testctx.New(t)
	prom := promtest.Start(t)
	bins := t.TempDir()
	good, bad := testimage.Start(t, bins, baseline, testimage.ModeOK), testimage.Start(t, bins, release, mode)
	var groups []promtest.Group
	for _, e := range envs {
		groups = append(groups, promtest.Target(good, e, "order-svc", baseline), promtest.Target(bad, e, "order-svc", release))
	}
	if err := prom.SetTargets(groups[:1:1]); err != nil {
		t.Fatal(err)
	}
	if err := prom.WaitTargets(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{good, bad} {
		t.Cleanup(testimage.Traffic(u))
	}
	if err := prom.SetTargets(groups); err != nil {
		t.Fatal(err)
	}
	if err := prom.WaitTargets(ctx, len(groups), nil); err != nil {
		t.Fatal(err)
	}
	return prom
}
