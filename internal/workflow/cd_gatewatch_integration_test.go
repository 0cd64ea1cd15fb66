//go:build integration

package workflow

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/envfile"
	"github.com/smp/delivery/internal/local/promserver"
	"github.com/smp/delivery/internal/notify/notifycontract"
	"github.com/smp/delivery/internal/testkit/kubeconfigtest"
	"github.com/smp/delivery/internal/testkit/testctx"
	"github.com/smp/delivery/internal/testkit/testimage"
)

// TestReusableCDGateWatchPassesAHealthyReleaseAndRollsBackABadOne runs the
// deploy jobs' "Gate watch" step for real: the service's CD with
// prometheus-url set to a real Prometheus that scrapes real servers,
// labelled with the env, service and version smp-gitops says each
// environment runs (the version the watch judges). main's build is healthy
// in dev: the watch passes and deploy-dev succeeds. 0.1.0-rc.1 answers 500
// half the time in staging: the watch commits rollback(staging) to the
// version staging ran before, with a hold and the gate's figures in Gate-*
// trailers, and fails deploy-staging at that step (exit 1).
//
// The kubeconfig secret names a real cluster (a kube-apiserver with Argo
// CD's and Argo Rollouts' CRDs, holding the objects Argo CD and the chart
// would make, with no controller to act on them): both watches reach it
// before they start, the dev watch that passes applies nothing there, and
// staging's rollback is applied on it — the ApplicationSet refreshed, the
// Application's sync operation set by smpctl-gate — and, with no Argo CD to
// sync it, the step says after watch-sync-timeout that the commit stands
// and how to finish. That is the step's kubeconfig path on a cluster that
// answers; its twin with Argo CD and Argo Rollouts running is the kube
// story's gate watch (internal/kube).
//
// The windows are the shortest smpctl takes (watch-window 10s, every 1s,
// watch-for 3s): the watch adds seconds to each job, not minutes.
func TestReusableCDGateWatchPassesAHealthyReleaseAndRollsBackABadOne(t *testing.T) {
	t.Parallel() // its own registry, remotes and cluster, like every cdWorld
	ctx := testctx.New(t)
	dir := filepath.Join(t.TempDir(), "order-svc")
	copyTracked(t, filepath.Join(repoRoot(t), "examples/order-svc"), dir)
	w := newCDWorld(t, "order-svc", dir)

	// What staging ran before the release: the rollback's target.
	smpctl := filepath.Join(realSmpctl(t), "smpctl")
	previous := "sha256:" + strings.Repeat("c", 64)
	run(t, "", smpctl, "approve", "--gitops", w.gitops, "--env", "staging", "--service", w.svc, "--version", "0.0.9",
		"--digest", previous, "--by", stagingReviewer, "--requested-by", deployer)
	run(t, "", smpctl, "deploy", "--gitops", w.gitops, "--env", "staging", "--service", w.svc,
		"--image", w.image()+":0.0.9@"+previous, "--by", deployer)

	prom, err := promserver.Start(ctx, promserver.Options{Dir: t.TempDir(), ScrapeInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Stop() })
	devVersion := "sha-" + w.sha[:7]
	bins := t.TempDir()
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	var groups []group
	for _, r := range []struct{ env, version, mode string }{
		{"dev", devVersion, testimage.ModeOK},
		{"staging", "0.1.0-rc.1", testimage.ModeErrors},
	} {
		bin, err := testimage.Binary(ctx, bins, r.version, r.mode)
		if err != nil {
			t.Fatal(err)
		}
		url, stop, err := testimage.Serve(ctx, bin)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		t.Cleanup(testimage.Traffic(url))
		groups = append(groups, group{[]string{strings.TrimPrefix(url, "http://")},
			map[string]string{"env": r.env, "service": w.svc, "version": r.version}})
	}
	if err := prom.SetTargets(groups); err != nil {
		t.Fatal(err)
	}
	if err := prom.WaitTargets(ctx, len(groups), nil); err != nil {
		t.Fatal(err)
	}
	w.with = map[string]any{
		"prometheus-url": prom.URL, "watch-for": "3s", "watch-wait": "1m", "watch-window": "10s", "watch-every": "1s",
		// 0.0.9 is made up, in no registry: the schema check (watch-migrations'
		// default, image) could not judge a rollback to it and would hold.
		"watch-migrations": "none",
		// How long staging's watch waits for Argo CD to sync its rollback:
		// no controller runs on this cluster, so the wait runs out. It also
		// bounds asking for the sync (reads and writes on a real API
		// server): 5s left little room for that on a loaded 2-core machine.
		"watch-sync-timeout": "30s",
	}
	// The chart version staging's file pins for 0.0.9, which the rollback
	// writes back and the Application must pin before it is synced.
	staged, err := envfile.Decode([]byte(w.gitopsFile("environments/staging/" + w.svc + ".yaml")))
	if err != nil {
		t.Fatal(err)
	}
	cluster := newArgoObjects(t, w, map[string]string{"dev": staged.ChartVersion, "staging": staged.ChartVersion})
	// The notifications the pipeline sends itself, with the secrets the CD
	// passes to the deploy and watch steps: Grafana annotations in dev and
	// staging, staging's rollback on Slack and as an incident issue, and its
	// failed gate paged.
	grafana, incidents, pd := notifycontract.NewGrafana(t), notifycontract.NewGitHub(t), notifycontract.NewPagerDuty(t)
	w.secrets = map[string]any{"grafana-token": notifycontract.GrafanaToken, "incidents-token": "incidents-test-token",
		"pagerduty-routing-key": notifycontract.PagerDutyRoutingKey, "kubeconfig": cluster.kubeconfig}
	w.editDelivery(func(cfg string) string {
		return cfg + "    - webhookEnv: SLACK_WEBHOOK\n      environments: [staging]\n" +
			"  pagerduty:\n    - routingKeyEnv: PAGERDUTY_ROUTING_KEY\n      environments: [staging]\n      eventsURL: " + pd.EnqueueURL() + "\n" +
			"  grafana:\n    url: " + grafana.URL + "\n    tokenEnv: GRAFANA_TOKEN\n    environments: [dev, staging]\n" +
			"  incidents:\n    github:\n      repository: " + notifycontract.GitHubRepository + "\n      apiURL: " + incidents.APIURL() +
			"\n      tokenEnv: INCIDENTS_TOKEN\n      environments: [staging]\n"
	})

	// main: dev runs sha-<short>, healthy; the watch passes.
	w.push("refs/heads/main", deployer, nil)
	for p, f := range w.failed {
		t.Fatalf("job %s failed at step %q: %v", p, f.Step, f)
	}
	const devWatch = "Gate watch (smpctl verify --for, dev)"
	out, ran := w.passed["cd/deploy-dev"][devWatch]
	if !ran {
		t.Fatalf("deploy-dev did not run %q with prometheus-url set (steps that passed: %v)", devWatch, w.passed["cd/deploy-dev"])
	}
	// Only sha-<short> has series in dev: a watch of any other version
	// would have had no data, and failed.
	if !strings.HasPrefix(out, "watch passed") {
		t.Errorf("the dev watch's output does not say it passed:\n%s", out)
	}
	if msg := w.lastCommit(); !strings.HasPrefix(msg, "deploy(dev)") {
		t.Errorf("a passed watch wrote to smp-gitops; its last commit:\n%s", msg)
	}
	if app := cluster.app("dev"); app.operation != nil || app.refreshed {
		t.Errorf("the dev watch passed and still acted on Application %s: operation %v, refresh asked %v", app.name, app.operation, app.refreshed)
	}

	// v0.1.0-rc.1: staging runs 0.1.0-rc.1, which fails; the watch rolls back.
	o := w.push("refs/tags/v0.1.0-rc.1", deployer, []review{approved(stagingReviewer, "staging")})
	f := w.failed["cd/deploy-staging"]
	if f == nil || f.Step != "Gate watch (smpctl verify --for, staging)" || !strings.Contains(f.Err.Error(), "exit status 1") {
		t.Fatalf("deploy-staging failed at %v; want the gate watch step failing with exit 1", f)
	}
	m := builtRef.FindStringSubmatch(strings.Replace(o.Jobs["cd/promote"].Outputs["image"], ":0.1.0-rc.1@", ":sha-"+w.sha[:7]+"@", 1))
	if m == nil {
		t.Fatalf("promote published image=%q", o.Jobs["cd/promote"].Outputs["image"])
	}
	digest16 := strings.TrimPrefix(m[3], "sha256:")[:16]
	msg := w.lastCommit()
	for _, want := range []string{
		"rollback(staging): " + w.svc + " → 0.0.9", "Gate-Verdict: failed", "Gate-Version: 0.1.0-rc.1",
		"Gate-Failed: error rate", "Deployed-By: smpctl-gate", "Change-Id: gate-rollback-staging-" + w.svc + "-" + digest16,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the rollback commit lacks %q:\n%s", want, msg)
		}
	}
	if staging := w.gitopsFile("environments/staging/" + w.svc + ".yaml"); !yamlLine("digest", previous).MatchString(staging) {
		t.Errorf("staging after the rollback:\n%s\nwant digest %s (0.0.9)", staging, previous)
	}
	if hold := w.gitopsFile("state/holds/staging/" + w.svc + ".yaml"); !strings.Contains(hold, "metric gate failed") {
		t.Errorf("the rollback's hold does not say why:\n%s", hold)
	}
	// The rollback applied with the kubeconfig secret, as read back from
	// the cluster: the ApplicationSet asked to read git again, the
	// Application asked to refresh and to sync, by the gate.
	app := cluster.app("staging")
	if !app.refreshed || !cluster.appSetRefreshed("staging") {
		t.Errorf("the rollback did not have Argo CD read git again: Application refresh %v, ApplicationSet smp-staging refresh %v", app.refreshed, cluster.appSetRefreshed("staging"))
	}
	if by, _ := app.operation["initiatedBy"].(map[string]any); by == nil || by["username"] != "smpctl-gate" {
		t.Errorf("Application %s's operation %v, want a sync initiated by smpctl-gate", app.name, app.operation)
	} else if sync, _ := app.operation["sync"].(map[string]any); sync == nil || sync["syncStrategy"] == nil {
		t.Errorf("Application %s's operation %v, want a sync with a strategy, as argocd app sync sets", app.name, app.operation)
	}
	if out := f.Stdout + f.Stderr; !strings.Contains(out, "the rollback commit stands: sync it with `smpctl sync staging`") {
		t.Errorf("the staging watch, its rollback not synced within watch-sync-timeout, does not say how to finish:\n%s", out)
	}

	// What the pipeline told, through the secrets the CD passed.
	var marked []string
	for _, r := range grafana.Requests() {
		marked = append(marked, strings.Join(strings.Fields(fmt.Sprint(r.Body["tags"])), " "))
	}
	for _, want := range []string{"env:dev event:deploy", "env:staging event:deploy", "env:staging event:rollback"} {
		if !slices.ContainsFunc(marked, func(m string) bool { return strings.Contains(m, want) }) {
			t.Errorf("Grafana annotations %q: none with %s", marked, want)
		}
	}
	if got := incidents.Requests(); len(got) != 1 || !strings.HasPrefix(fmt.Sprint(got[0].Body["title"]), "Rollback in staging: "+w.svc) {
		t.Errorf("incident issues %v, want one for staging's rollback", got)
	}
	pages := pd.Requests()
	if len(pages) != 1 || pages[0].Body["event_action"] != "trigger" || !strings.Contains(fmt.Sprint(pages[0].Body["payload"]), "staging") {
		t.Errorf("PagerDuty got %v, want one trigger for staging's failed gate (routingKeyEnv PAGERDUTY_ROUTING_KEY)", pages)
	}
	if !slices.ContainsFunc(w.slack.posted, func(m string) bool { return strings.Contains(m, "staging") && strings.Contains(m, "ollback") }) {
		t.Errorf("Slack got %q, want staging's rollback (webhookEnv SLACK_WEBHOOK)", w.slack.posted)
	}
}

// editDelivery commits edit's change of smp-gitops' delivery.yaml, as a
// person's pull request would.
func (w *cdWorld) editDelivery(edit func(string) string) {
	w.t.Helper()
	work := filepath.Join(w.t.TempDir(), "smp-gitops")
	git(w.t, w.t.TempDir(), "clone", "-q", w.gitops, work)
	writeFile(w.t, work, "delivery.yaml", edit(readFile(w.t, filepath.Join(work, "delivery.yaml"))))
	git(w.t, work, "commit", "-qam", "notifications")
	git(w.t, work, "push", "-q", "origin", "HEAD:main")
}

// TestReusableCDGateWatchAppliesItsRollbackWithTheKubeconfigSecret runs
// deploy-dev's "Gate watch" step for real with the kubeconfig secret: the
// step hands smpctl verify the secret as a file with --sync, and smpctl
// asks that cluster for the service's Application before it watches. The
// secret here names a cluster that does not answer, so the step fails at
// once (exit 1) saying so, writes nothing, and leaves no kubeconfig behind.
// Its twins on a cluster that answers are the release test above (the
// same step, on a cluster with Argo CD's objects and no controller) and
// the kube story's gate watch (internal/kube,
// TestEndToEndStoryOnArgoCDAndArgoRollouts), which runs the same verify
// --for --sync --kubeconfig on Argo CD and Argo Rollouts.
// watch-sync-timeout without the secret is refused (exit 2) before smpctl.
func TestReusableCDGateWatchAppliesItsRollbackWithTheKubeconfigSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "order-svc")
	copyTracked(t, filepath.Join(repoRoot(t), "examples/order-svc"), dir)
	w := newCDWorld(t, "order-svc", dir)
	smpctl := filepath.Join(realSmpctl(t), "smpctl")
	image := w.image() + ":sha-" + w.sha[:7] + "@sha256:" + strings.Repeat("d", 64)
	run(t, "", smpctl, "deploy", "--gitops", w.gitops, "--env", "dev", "--service", w.svc, "--image", image, "--by", deployer)
	before := w.lastCommit()

	gateWatch := func(t *testing.T, with, secrets map[string]any) (tmp string, output string, err error) {
		t.Helper()
		in := map[string]any{"service": w.svc, "image": w.image(), "gitops-repository": w.gitops,
			// Short windows: a step that watched anyway (no cluster
			// asked first) ends "unknown" in seconds, not at the deadline.
			"prometheus-url": "http://127.0.0.1:1", "watch-for": "3s", "watch-wait": "3s", "watch-window": "10s", "watch-every": "1s"}
		for k, v := range with {
			in[k] = v
		}
		inputs, err := w.reusable.typedInputs(in)
		if err != nil {
			t.Fatal(err)
		}
		gh := map[string]any{"ref": "refs/heads/main", "sha": w.sha, "repository": "smp/" + w.svc, "server_url": "https://github.com",
			"api_url": w.api.srv.URL, "run_id": float64(1), "actor": deployer, "triggering_actor": deployer, "token": w.api.token}
		needs := map[string]any{
			"plan":  map[string]any{"outputs": map[string]any{"environment": "dev", "source-time": "", "built-tag": "sha-" + w.sha[:7]}},
			"build": map[string]any{"outputs": map[string]any{"image": image, "chart-version": ""}},
		}
		steps, err := w.reusable.Steps("deploy-dev", Scope{Contexts: map[string]any{"inputs": inputs, "github": gh, "secrets": secrets, "needs": needs}})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			if s.Name != "Gate watch (smpctl verify --for, dev)" {
				continue
			}
			bin := t.TempDir()
			if err := os.Symlink(smpctl, filepath.Join(bin, "smpctl")); err != nil {
				t.Fatal(err)
			}
			tmp = t.TempDir()
			env := append(w.runnerEnv(gh, bin, t.TempDir(), "deploy-dev"), "TMPDIR="+tmp)
			// Both streams: a step's ::error:: line is on standard output.
			var out bytes.Buffer
			err := s.Exec(testctx.New(t), t.TempDir(), env, 0, &out, &out)
			return tmp, out.String(), err
		}
		t.Fatal("deploy-dev has no step Gate watch (smpctl verify --for, dev)")
		return "", "", nil
	}

	t.Run("the secret's cluster is asked before the watch", func(t *testing.T) {
		tmp, stderr, err := gateWatch(t, nil, map[string]any{"GITOPS_TOKEN": "", "kubeconfig": kubeconfigtest.Unreachable})
		want := "--sync: reach the engine that applies a rollback: Kubernetes API server unreachable: Application argocd/smp-order-svc-dev in context down"
		if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(stderr, want) {
			t.Fatalf("the step: %v, stderr:\n%s\nwant exit 1 saying %q", err, stderr, want)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("the step left %s in its temporary directory: the kubeconfig outlives the step", left[0].Name())
		}
		if after := w.lastCommit(); after != before {
			t.Errorf("a watch whose cluster cannot be reached wrote to smp-gitops:\n%s", after)
		}
	})

	t.Run("watch-sync-timeout needs the secret", func(t *testing.T) {
		_, stderr, err := gateWatch(t, map[string]any{"watch-sync-timeout": "5m"}, map[string]any{"GITOPS_TOKEN": ""})
		if err == nil || !strings.Contains(err.Error(), "exit status 2") || !strings.Contains(stderr, "pass the secret, or drop the input") {
			t.Fatalf("the step: %v, stderr:\n%s\nwant exit 2 naming the missing kubeconfig secret", err, stderr)
		}
	})
}
