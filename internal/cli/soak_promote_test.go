package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/notify/notifycontract"
)

const soakDelivery = `apiVersion: delivery.smp.vn/v1
kind: Delivery
version: 3
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: automated, trigger: rc, approval: none, soak: 1h}
services:
  - name: order-svc
    image: ghcr.io/smp/order-svc
`

// newSoakRemote is a GitOps remote of soakDelivery and the environment
// smpctl reads it with.
func newSoakRemote(t *testing.T) (string, map[string]string) {
	t.Helper()
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": soakDelivery})
	return bare, map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir()}
}

// orderSvcImage is order-svc:tag whose digest repeats c.
func orderSvcImage(tag, c string) string {
	return "ghcr.io/smp/order-svc:" + tag + "@sha256:" + strings.Repeat(c, 64)
}

// smpctlAt runs smpctl in-process with its clock at now.
func smpctlAt(t *testing.T, now time.Time, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }, Now: func() time.Time { return now }}
	code = a.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

// TestPromoteDeploysWhatQueuedBehindTheSoak: 3.3.0 arrives by CD while
// 3.2.0 soaks in dev and queues; an hour later the soak is recorded, the
// promotion to staging lands, and the same promote deploys 3.3.0 to dev —
// nobody runs soak drain. The soak's hour passes on smpctl's clock (Now),
// not the test's.
func TestPromoteDeploysWhatQueuedBehindTheSoak(t *testing.T) {
	t.Parallel()
	bare, env := newSoakRemote(t)
	if code, _, stderr := smpctl(t, env, "deploy", "--env", "dev", "--service", "order-svc", "--by", "ci", "--image", orderSvcImage("3.2.0", "a")); code != 0 {
		t.Fatalf("deploy 3.2.0: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := smpctl(t, env, "deploy", "--queue-if-soaking", "--env", "dev", "--service", "order-svc", "--by", "ci", "--image", orderSvcImage("3.3.0", "b"))
	if code != 0 || !strings.Contains(stdout, "queue(dev)") {
		t.Fatalf("deploy --queue-if-soaking 3.3.0: exit %d, want it queued\n%s%s", code, stdout, stderr)
	}
	later := time.Now().Add(61 * time.Minute)
	if code, _, stderr := smpctlAt(t, later, env, "soak", "record", "--env", "dev", "--service", "order-svc", "--version", "3.2.0", "--by", "smpctl-gate"); code != 0 {
		t.Fatalf("soak record: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr = smpctlAt(t, later, env, "promote", "--service", "order-svc", "--from", "dev", "--to", "staging", "--by", "ci")
	if code != 0 || !strings.Contains(stdout, "promote(staging): order-svc → 3.2.0") {
		t.Fatalf("promote: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "queue: deploy(dev): order-svc → 3.3.0") {
		t.Errorf("promote did not say it deployed the queued build:\n%s", stderr)
	}
	if got := gitcmdtest.Git(t, bare, "show", "main:environments/dev/order-svc.yaml"); !strings.Contains(got, "3.3.0") {
		t.Errorf("dev after the promotion:\n%s", got)
	}
	if files := gitcmdtest.Git(t, bare, "ls-tree", "-r", "--name-only", "main"); strings.Contains(files, "state/queue/") {
		t.Errorf("the queue file is still there after the drain:\n%s", files)
	}
}

// TestTheCDsDeployOfTheSoakedReleaseDeploysWhatQueuedBehindIt: the
// reusable CD ships the release to the next environment with deploy, under
// its release tag, not promote, so what queued behind the soak stayed
// queued. A deploy that needs the soak (staging here) now drains the queue
// behind it, as promote does.
func TestTheCDsDeployOfTheSoakedReleaseDeploysWhatQueuedBehindIt(t *testing.T) {
	t.Parallel()
	bare, env := newSoakRemote(t)
	if code, _, stderr := smpctl(t, env, "deploy", "--env", "dev", "--service", "order-svc", "--by", "ci", "--image", orderSvcImage("sha-aaaaaaa", "a")); code != 0 {
		t.Fatalf("deploy sha-aaaaaaa: exit %d\n%s", code, stderr)
	}
	if code, stdout, stderr := smpctl(t, env, "deploy", "--queue-if-soaking", "--env", "dev", "--service", "order-svc", "--by", "ci", "--image", orderSvcImage("sha-bbbbbbb", "b")); code != 0 || !strings.Contains(stdout, "queue(dev)") {
		t.Fatalf("deploy --queue-if-soaking sha-bbbbbbb: exit %d, want it queued\n%s%s", code, stdout, stderr)
	}
	// Before the soak: the release tag of the same digest is refused in staging.
	code, _, stderr := smpctl(t, env, "deploy", "--queue-if-soaking", "--env", "staging", "--service", "order-svc", "--by", "ci", "--image", orderSvcImage("3.2.0-rc.1", "a"))
	if code != 1 || !strings.Contains(stderr, "deploy of order-svc 3.2.0-rc.1 to staging refused: staging needs soak: 1h0m0s in dev") {
		t.Fatalf("deploy to staging before the soak: exit %d, want 1 and the soak it needs\n%s", code, stderr)
	}
	later := time.Now().Add(61 * time.Minute)
	if code, _, stderr := smpctlAt(t, later, env, "soak", "record", "--env", "dev", "--service", "order-svc", "--version", "sha-aaaaaaa", "--by", "smpctl-gate"); code != 0 {
		t.Fatalf("soak record: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := smpctlAt(t, later, env, "deploy", "--queue-if-soaking", "--env", "staging", "--service", "order-svc", "--by", "ci", "--image", orderSvcImage("3.2.0-rc.1", "a"))
	if code != 0 || !strings.Contains(stdout, "deploy(staging): order-svc → 3.2.0-rc.1") {
		t.Fatalf("deploy to staging after the soak: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "queue: deploy(dev): order-svc → sha-bbbbbbb") {
		t.Errorf("the deploy did not say it deployed the queued build:\n%s", stderr)
	}
	if got := gitcmdtest.Git(t, bare, "show", "main:environments/dev/order-svc.yaml"); !strings.Contains(got, "sha-bbbbbbb") {
		t.Errorf("dev after the deploy to staging:\n%s", got)
	}
}

// TestTheDeployAPromotionDrainsIsNotified: the queued build promote deploys
// into the environment behind the soak is a deploy like any other, and
// whoever hears of deploys there hears of it (#16) — before, only soak
// drain run by hand notified it.
func TestTheDeployAPromotionDrainsIsNotified(t *testing.T) {
	t.Parallel()
	slack := notifycontract.NewSlack(t)
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": soakDelivery + "notifications:\n  slack:\n    - webhookEnv: SLACK_WEBHOOK\n"})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir(), "SLACK_WEBHOOK": slack.WebhookURL()}
	if code, _, stderr := smpctl(t, env, "deploy", "--env", "dev", "--service", "order-svc", "--by", "ci", "--image", orderSvcImage("3.2.0", "a")); code != 0 {
		t.Fatalf("deploy 3.2.0: exit %d\n%s", code, stderr)
	}
	if code, stdout, stderr := smpctl(t, env, "deploy", "--queue-if-soaking", "--env", "dev", "--service", "order-svc", "--by", "ci", "--image", orderSvcImage("3.3.0", "b")); code != 0 || !strings.Contains(stdout, "queue(dev)") {
		t.Fatalf("deploy --queue-if-soaking 3.3.0: exit %d, want it queued\n%s%s", code, stdout, stderr)
	}
	later := time.Now().Add(61 * time.Minute)
	if code, _, stderr := smpctlAt(t, later, env, "soak", "record", "--env", "dev", "--service", "order-svc", "--version", "3.2.0", "--by", "smpctl-gate"); code != 0 {
		t.Fatalf("soak record: exit %d\n%s", code, stderr)
	}
	before := len(slack.Requests())
	if code, _, stderr := smpctlAt(t, later, env, "promote", "--service", "order-svc", "--from", "dev", "--to", "staging", "--by", "trung"); code != 0 ||
		!strings.Contains(stderr, "queue: deploy(dev): order-svc → 3.3.0") {
		t.Fatalf("promote: exit %d, want the queued build deployed\n%s", code, stderr)
	}
	drained := gitcmdtest.Git(t, bare, "rev-parse", "main")
	var texts []string
	for _, r := range slack.Requests()[before:] {
		texts = append(texts, slackText(r))
	}
	var promoted, deployed bool
	for _, m := range texts {
		promoted = promoted || (strings.Contains(m, "staging") && strings.Contains(m, "3.2.0"))
		deployed = deployed || (strings.Contains(m, "dev") && strings.Contains(m, "3.3.0") && strings.Contains(m, "By trung"))
	}
	if len(texts) != 2 || !promoted || !deployed {
		t.Fatalf("Slack after the promote that drained dev's queue (main %s): %d messages, want the promotion of 3.2.0 to staging and the deploy of 3.3.0 to dev by trung:\n%s",
			drained, len(texts), strings.Join(texts, "\n---\n"))
	}
}
