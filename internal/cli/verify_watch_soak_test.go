package cli

import (
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/testkit/testimage"
)

const soakWatchDelivery = `apiVersion: delivery.smp.vn/v1
kind: Delivery
version: 3
environments:
  - {name: dev, sync: manual, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: none, soak: 20s}
services:
  - name: order-svc
    image: ghcr.io/smp/order-svc
`

// TestAWatchRecordsTheSoakItSawAndALongerWatchExtendsIt: staging asks a
// soak of 20s in dev. A passing watch of 2s records what it saw, says the
// soak is still short, and promote refuses. (A watch records the time it
// really watched: on a loaded machine a 2s watch's evaluations slipped to
// 4s, which met a soak of 4s.) A watch with --for soak watches
// the 20s staging asks and extends the record — the first watch's record
// does not stop it — so promote passes. The same watch run again (a
// restarted CI job) writes nothing.
func TestAWatchRecordsTheSoakItSawAndALongerWatchExtendsIt(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": soakWatchDelivery})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir()}
	for _, d := range []struct{ tag, c string }{{"3.2.0", "a"}, {"3.3.0", "b"}} {
		if code, _, stderr := smpctl(t, env, "deploy", "--env", "dev", "--service", "order-svc", "--by", "ci",
			"--image", "ghcr.io/smp/order-svc:"+d.tag+"@sha256:"+strings.Repeat(d.c, 64)); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", d.tag, code, stderr)
		}
	}
	prom := gatePrometheusWith(t, "3.2.0", "3.3.0", testimage.ModeOK, "dev")
	watch := func(forArg string) (int, string, string) {
		return smpctl(t, env, "verify", "--prometheus", prom.URL, "--env", "dev", "--service", "order-svc",
			"--window", "10s", "--every", "1s", "--for", forArg)
	}
	promote := []string{"promote", "--service", "order-svc", "--from", "dev", "--to", "staging", "--by", "ci"}

	code, stdout, stderr := watch("2s")
	if code != 0 || !strings.Contains(stdout, "soak: soak(dev): order-svc 3.3.0 soaked ") || !strings.Contains(stdout, "left: staging needs soak: 20s in dev, and ") {
		t.Fatalf("a passing watch of 2s: exit %d, want 0, its 2s recorded and the soak said to be short\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := smpctl(t, env, promote...); code != 1 || !strings.Contains(stderr, "of soak recorded: it still needs") {
		t.Fatalf("promote after 2s of soak: exit %d, want 1\n%s", code, stderr)
	}

	code, stdout, stderr = watch("soak")
	if code != 0 || !strings.Contains(stderr, "for 20s, the soak staging asks") || !strings.Contains(stdout, "(committed ") || strings.Contains(stdout, "left:") {
		t.Fatalf("verify --for soak: exit %d, want 0 with 20s watched and recorded\n%s%s", code, stdout, stderr)
	}
	if msg := gitcmdtest.Git(t, bare, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, "soak(dev): order-svc 3.3.0 soaked") || !strings.Contains(msg, "Change-Id: gate-soak-dev-order-svc-bbbbbbbbbbbbbbbb-20s") {
		t.Errorf("the longer watch's record:\n%s", msg)
	}

	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	if code, stdout, stderr := watch("soak"); code != 0 || !strings.Contains(stdout, "nothing to commit") {
		t.Fatalf("the same watch again: exit %d, want 0 and nothing to commit\n%s%s", code, stdout, stderr)
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") != before {
		t.Error("the same watch run again wrote its soak twice")
	}

	if code, stdout, stderr := smpctl(t, env, promote...); code != 0 || !strings.Contains(stdout, "promote(staging): order-svc → 3.3.0") {
		t.Fatalf("promote after the soak staging asks: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
}
