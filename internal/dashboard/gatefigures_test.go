package dashboard_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/testkit/promtest"
	"github.com/smp/delivery/internal/testkit/testctx"
	"github.com/smp/delivery/internal/testkit/testimage"
)

// With --prometheus, the service page shows, per environment, the gate's
// figures of the version it runs, read from a real Prometheus scraping real
// test servers: the story's order-svc runs 3.3.0-rc.1 in staging (answering
// well) and 3.2.0 in prod (answering 500 half the time); nothing in dev
// gets traffic.
func TestTheServicePageShowsTheGateFiguresOfWhatRunsFromPrometheus(t *testing.T) {
	t.Parallel()
	ctx := testctx.New(t)
	s := newStory(t)
	prom := promtest.Start(t)
	bins := t.TempDir()
	staging := testimage.Start(t, bins, "3.3.0-rc.1", testimage.ModeOK)
	prod := testimage.Start(t, bins, "3.2.0", testimage.ModeErrors)
	if err := prom.SetTargets([]promtest.Group{promtest.Target(staging, "staging", "order-svc", "3.3.0-rc.1"), promtest.Target(prod, "prod", "order-svc", "3.2.0")}); err != nil {
		t.Fatal(err)
	}
	if err := prom.WaitTargets(ctx, 2, nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{staging, prod} {
		stop := testimage.Traffic(u)
		defer stop()
	}
	time.Sleep(4 * time.Second) // several scrapes of traffic

	// The story's clock is a day ahead of Prometheus' samples: read the
	// figures at the wall clock's now. Each query may take what the test has
	// left: the page's 3s bound is for a person waiting on a page, and a
	// loaded machine's Prometheus can take longer.
	h := newDashboard(t, s.bare, dashboard.Options{Prometheus: prom.URL, GateWindow: 10 * time.Second, GateTimeout: testctx.Left(t)})
	code, body, doc := get(t, h, "/services/order-svc")
	if code != http.StatusOK {
		t.Fatalf("GET /services/order-svc = %d:\n%s", code, body)
	}
	table := byID(doc, "gate")
	if table == nil {
		t.Fatalf("no gate figures on the page:\n%s", text(doc))
	}
	rows := map[string][]string{}
	for _, tr := range all(all(table, "tbody")[0], "tr") {
		var cells []string
		for _, c := range append(all(tr, "th"), all(tr, "td")...) {
			cells = append(cells, text(c))
		}
		rows[cells[0]] = cells
	}
	if got := strings.Join(rows["dev"], " | "); got != "dev | sha-bbbbbbb | no API requests in the last 10s" {
		t.Errorf("dev's gate figures read %q, want no API requests", got)
	}
	rate := func(env string) float64 {
		t.Helper()
		r := rows[env]
		if len(r) != 5 || !strings.HasSuffix(r[2], " in 10s") || !strings.HasSuffix(r[3], "%") {
			t.Fatalf("%s's gate figures read %q, want the version, requests, error rate and p95", env, r)
		}
		if _, err := time.ParseDuration(r[4]); err != nil || r[4] == "0s" {
			t.Errorf("%s's p95 reads %q, want a latency", env, r[4])
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(r[3], "%"), 64)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if r := rows["staging"]; len(r) < 2 || r[1] != "3.3.0-rc.1" {
		t.Errorf("staging's row names %q, want the version it runs", r)
	}
	if f := rate("staging"); f != 0 {
		t.Errorf("staging's error rate reads %v%%, want 0%% (it answers 200)", f)
	}
	if f := rate("prod"); f < 30 || f > 70 {
		t.Errorf("prod's error rate reads %v%%, want about 50%% (it answers 500 half the time)", f)
	}

	// A Prometheus that does not answer: the page still renders, and says so.
	h = newDashboard(t, s.bare, dashboard.Options{Prometheus: "http://127.0.0.1:1"})
	if code, _, doc := get(t, h, "/services/order-svc"); code != http.StatusOK || !strings.Contains(text(byID(doc, "gate")), "prod 3.2.0 Prometheus did not answer:") {
		t.Errorf("with Prometheus down the page = %d, its gate figures %q", code, text(byID(doc, "gate")))
	}
}

func TestABadPrometheusURLIsRefused(t *testing.T) {
	t.Parallel()
	for _, o := range []dashboard.Options{{Prometheus: "127.0.0.1:9090"}, {Prometheus: "http://127.0.0.1:9090", GateWindow: time.Second}} {
		if _, err := dashboard.New(opener(t, t.TempDir()), o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

// The service page shows the gate figures of the releases each environment
// ran before the current one, each over the time it ran and read when the
// next replaced it, beside the p95 of the release before it: real deploys
// (smpctl's commits) of 1.0.0 (answering well), 2.0.0 (answering 500 half
// the time) and 3.0.0, a few seconds apart, and a real Prometheus scraping
// real test servers labelled with those versions.
func TestTheServicePageShowsTheGateFiguresOfEarlierReleases(t *testing.T) {
	t.Parallel()
	ctx := testctx.New(t)
	prom := promtest.Start(t)
	bins := t.TempDir()
	v1 := testimage.Start(t, bins, "1.0.0", testimage.ModeOK)
	v2 := testimage.Start(t, bins, "2.0.0", testimage.ModeErrors)
	if err := prom.SetTargets([]promtest.Group{promtest.Target(v1, "prod", "order-svc", "1.0.0"), promtest.Target(v2, "prod", "order-svc", "2.0.0")}); err != nil {
		t.Fatal(err)
	}
	if err := prom.WaitTargets(ctx, 2, nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{v1, v2} {
		stop := testimage.Traffic(u)
		defer stop()
	}
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml": "environments:\n  - {name: prod, sync: manual, trigger: manual, approval: none}\nservices:\n  - name: order-svc\n    image: ghcr.io/smp/order-svc\n",
	})
	repo, err := write.Open(gitops.Remote{URL: bare}, gitops.Identity{Name: "smpctl-bot", Email: "bot@smp.vn"}, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(tag string, d byte) {
		t.Helper()
		ref, err := imageref.Parse("ghcr.io/smp/order-svc:" + tag + "@sha256:" + strings.Repeat(string(d), 64))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := write.Deploy(ctx, repo, write.DeployRequest{Common: write.Common{By: "ci", Now: time.Now()}, Env: "prod", Service: "order-svc", Image: ref}); err != nil {
			t.Fatal(err)
		}
	}
	// Each version runs (and is scraped) for several scrapes before the
	// next deploy replaces it: its window ends at that deploy.
	// How long each ran depends on how long the deploys take on a loaded
	// machine, so the windows are checked against what the test measured.
	started := time.Now()
	deploy("1.0.0", '1')
	time.Sleep(5 * time.Second)
	deploy("2.0.0", '2')
	time.Sleep(5 * time.Second)
	deploy("3.0.0", '3')
	ran := time.Since(started)

	h := newDashboard(t, bare, dashboard.Options{Prometheus: prom.URL, GateTimeout: testctx.Left(t)})
	code, body, doc := get(t, h, "/services/order-svc")
	table := byID(doc, "gate-earlier")
	if code != http.StatusOK || table == nil {
		t.Fatalf("GET /services/order-svc = %d, no earlier gate figures:\n%.3000s", code, body)
	}
	var rows [][]string
	for _, tr := range all(all(table, "tbody")[0], "tr") {
		var cells []string
		for _, c := range append(all(tr, "th"), all(tr, "td")...) {
			cells = append(cells, text(c))
		}
		rows = append(rows, cells)
	}
	if len(rows) != 2 || rows[0][1] != "2.0.0" || rows[1][1] != "1.0.0" {
		t.Fatalf("earlier releases %q, want 2.0.0 then 1.0.0 (3.0.0 runs now)", rows)
	}
	rate := func(r []string) float64 {
		t.Helper()
		var n int
		var d string
		if len(r) != 6 || !strings.HasSuffix(r[4], "%") {
			t.Fatalf("row %q: want environment, version, when it ran, requests, error rate, p95", r)
		}
		if _, err := fmt.Sscanf(r[3], "%d in %s", &n, &d); err != nil {
			t.Fatalf("row %q: requests %q: want \"N in DURATION\": %v", r, r[3], err)
		}
		window, err := time.ParseDuration(d)
		if err != nil {
			t.Fatalf("row %q: window %q: %v", r, r[3], err)
		}
		// The window is the time the release ran (commit times are whole
		// seconds), never under the 10 s a rate needs.
		if limit := max(10*time.Second, ran.Round(time.Second)+2*time.Second); n <= 0 || window < 10*time.Second || window > limit {
			t.Fatalf("row %q: want some requests over a window of 10s..%s (the deploys measured %s)", r, limit, ran)
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(r[4], "%"), 64)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := rate(rows[0]); f < 30 || f > 70 {
		t.Errorf("2.0.0's error rate reads %v%%, want about 50%% (it answered 500 half the time)", f)
	}
	if f := rate(rows[1]); f != 0 {
		t.Errorf("1.0.0's error rate reads %v%%, want 0%% (it answered 200)", f)
	}
	if !strings.Contains(rows[0][5], "(1.0.0: ") || strings.Contains(rows[1][5], "(") {
		t.Errorf("p95s %q and %q: want 2.0.0's beside 1.0.0's, and none beside 1.0.0 (nothing ran before it)", rows[0][5], rows[1][5])
	}
	// The same figures drawn: prod's error rate and p95, release by
	// release, oldest first, then 3.0.0, which runs now and gets no traffic.
	charts := all(byID(doc, "gate-chart-prod"), "svg")
	if len(charts) != 2 {
		t.Fatalf("prod's gate charts: %d, want error rate and p95", len(charts))
	}
	var bars []string
	for _, g := range all(charts[0], "g") {
		bars = append(bars, text(all(g, "title")[0]))
	}
	if len(bars) != 3 || bars[0] != "1.0.0: 0.00%" || bars[1] != "2.0.0: "+rows[0][4] || bars[2] != "3.0.0 (now): –" {
		t.Errorf("prod's error-rate bars %q, want 1.0.0 at 0.00%%, 2.0.0 at %s, 3.0.0 (now) without requests", bars, rows[0][4])
	}
}
