package dashboard_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/testkit/pagetest"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// get serves one request and parses the page.
func get(t *testing.T, h http.Handler, target string) (int, string, *html.Node) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	body := rec.Body.String()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: not HTML: %v", target, err)
	}
	return rec.Code, body, doc
}

// The page readers every test here uses (package pagetest).
var (
	byID = pagetest.ByID
	all  = pagetest.All
	text = pagetest.Text
	row  = pagetest.Row
)

// TestPages reads one story, built once: the pages only read it.
func TestPages(t *testing.T) {
	t.Parallel()
	s := newStory(t)
	for name, test := range map[string]func(*testing.T, *story){
		"TheMatrixShowsWhatRunsWhereWhoPutItThereAndTheHolds":    testTheMatrixShowsWhatRunsWhereWhoPutItThereAndTheHolds,
		"TheQueueSaysWhatWaitsForWhom":                           testTheQueueSaysWhatWaitsForWhom,
		"TheServicePageHasTheTimelineTheDiffAndTheMetrics":       testTheServicePageHasTheTimelineTheDiffAndTheMetrics,
		"BadAddressesSayWhatToDo":                                testBadAddressesSayWhatToDo,
		"TheDashboardOnlyReads":                                  testTheDashboardOnlyReads,
		"EveryAssetIsServedByTheDashboardItself":                 testEveryAssetIsServedByTheDashboardItself,
		"AFragmentIsTheLivePartOnly":                             testAFragmentIsTheLivePartOnly,
		"ARemoteThatStopsAnsweringLeavesTheLastViewUnderABanner": testARemoteThatStopsAnsweringLeavesTheLastViewUnderABanner,
		"AnInterruptedRefreshIsNoNewsAboutTheRepository":         testAnInterruptedRefreshIsNoNewsAboutTheRepository,
		"RunAfterARefreshReadsAtItsNextPollNotAtOnce":            testRunAfterARefreshReadsAtItsNextPollNotAtOnce,
		"ANotificationNotSentIsOnTheMatrixAndTheServicePage":     testANotificationNotSentIsOnTheMatrixAndTheServicePage,
	} {
		t.Run(name, func(t *testing.T) { test(t, s) })
	}
}

func testTheMatrixShowsWhatRunsWhereWhoPutItThereAndTheHolds(t *testing.T, s *story) {
	code, _, doc := get(t, s.dashboard(dashboard.Options{}), "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	if got := text(all(byID(doc, "matrix"), "thead")[0]); got != "Service dev staging prod" {
		t.Errorf("matrix header = %q, want the environments in delivery.yaml's order", got)
	}
	// Ages are from the dashboard's clock (Wednesday 12:00) to the commit.
	for _, tc := range []struct {
		id   string
		want []string
	}{
		{"s-order-svc", []string{
			"order-svc",
			"sha-bbbbbbb sha256:bbbbbbbbbbbb 24h · ci",
			"3.3.0-rc.1 sha256:bbbbbbbbbbbb 24h · alice · approved by lan",
			"3.2.0 sha256:aaaaaaaaaaaa 24h · bob · approved by minh not notified: slack[0]",
		}},
		{"s-partner-svc", []string{
			"partner-svc",
			"sha-ddddddd sha256:dddddddddddd 24h · ci",
			"1.1.0-rc.1 sha256:dddddddddddd 24h · alice · approved by lan",
			"1.0.0 sha256:cccccccccccc 24h · bob · approved by thu held by oncall",
		}},
		{"s-billing-svc", []string{"billing-svc", "sha-eeeeeee sha256:eeeeeeeeeeee 24h · ci", "–", "–"}},
	} {
		if got := row(t, doc, tc.id); strings.Join(got, " | ") != strings.Join(tc.want, " | ") {
			t.Errorf("row %s:\n got %q\nwant %q", tc.id, got, tc.want)
		}
	}
	held := all(byID(doc, "s-partner-svc"), "td")[2]
	if !hasClass(held, "held") {
		t.Errorf("partner-svc's prod cell is not marked held: %v", held.Attr)
	}
	if banner := text(doc); !strings.Contains(banner, "prod is frozen: release-week until "+s.freezeUntil.Format("Mon 2 Jan 15:04 MST")+" — year-end release week") {
		t.Errorf("no banner for the active prod freeze in:\n%s", banner)
	}
}

func hasClass(n *html.Node, class string) bool {
	for _, a := range n.Attr {
		if a.Key == "class" && strings.Contains(" "+a.Val+" ", " "+class+" ") {
			return true
		}
	}
	return false
}

func testTheQueueSaysWhatWaitsForWhom(t *testing.T, s *story) {
	_, _, doc := get(t, s.dashboard(dashboard.Options{}), "/")
	q := byID(doc, "queue")
	if q == nil {
		t.Fatal("no approval queue on the page")
	}
	var got []string
	for _, tr := range all(all(q, "tbody")[0], "tr") {
		got = append(got, text(tr))
	}
	want := []string{
		"order-svc 3.3.0-rc.1 sha256:bbbbbbbbbbbb staging → prod approval for prod by minh, thu 24h",
		"partner-svc 1.1.0-rc.1 sha256:dddddddddddd staging → prod promotion to prod (approved by thu as 1.1.0) prod held 24h",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("queue:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func testTheServicePageHasTheTimelineTheDiffAndTheMetrics(t *testing.T, s *story) {
	h := s.dashboard(dashboard.Options{CommitURL: "https://github.com/smp/smp-gitops/commit/{commit}"})
	code, body, doc := get(t, h, "/services/partner-svc")
	if code != http.StatusOK {
		t.Fatalf("GET /services/partner-svc = %d:\n%s", code, body)
	}
	if got := text(byID(doc, "diff")); got != "staging prod differs image version 1.1.0-rc.1 1.0.0 digest sha256:dddddddddddd sha256:cccccccccccc chart 0.1.0 0.1.0 source commit dddddddddddd cccccccccccc" {
		t.Errorf("diff staging → prod = %q", got)
	}
	var timeline []string
	for _, li := range all(byID(doc, "timeline"), "li") {
		// The writers date commits with the wall clock: leave the time out.
		timeline = append(timeline, strings.TrimPrefix(text(li), text(all(li, "time")[0])+" "))
	}
	if len(timeline) != 10 {
		t.Fatalf("timeline has %d entries, want 10 (4 deploys, 5 approvals, 1 hold):\n%s", len(timeline), strings.Join(timeline, "\n"))
	}
	for i, want := range map[int]string{
		0: "prod approve 1.1.0 thu ·",
		1: "staging deploy 1.1.0-rc.1 alice · approved by lan ·",
		2: "staging approve 1.1.0-rc.1 lan ·",
		3: "dev deploy sha-ddddddd ci ·",
		4: "prod hold oncall ·",
		5: "prod deploy 1.0.0 bob · approved by thu ·",
	} {
		if !strings.HasPrefix(timeline[i], want) {
			t.Errorf("timeline[%d] = %q, want it to start %q", i, timeline[i], want)
		}
	}
	// A hold a gate watch wrote shows the gate's figures from its trailers.
	if want := "gate failed on error rate: 1.0.0 — error rate 49.95%, p95 2.4ms vs baseline 0.9.0 2.5ms, 1379 requests over 30s"; !strings.HasSuffix(timeline[4], want) {
		t.Errorf("the gate's hold in the timeline = %q, want it to end %q", timeline[4], want)
	}
	// Every entry links to its commit and its CI run.
	links := 0
	for _, a := range all(byID(doc, "timeline"), "a") {
		for _, at := range a.Attr {
			if at.Key == "href" && (strings.HasPrefix(at.Val, "https://github.com/smp/smp-gitops/commit/") || strings.HasPrefix(at.Val, "https://ci.example/runs/")) {
				links++
			}
		}
	}
	if links != 2*len(timeline) {
		t.Errorf("%d commit and CI links in the timeline, want 2 per entry (%d)", links, 2*len(timeline))
	}
	var metrics []string
	for _, tr := range all(all(byID(doc, "metrics"), "tbody")[0], "tr") {
		metrics = append(metrics, text(tr))
	}
	if got, want := strings.Join(metrics, "\n"), "dev 2 0.07 1h0m0s 1h0m0s 0 0% –\nstaging 2 0.07 1h0m0s 1h0m0s 0 0% –\nprod 1 0.03 1h0m0s 1h0m0s 0 0% –"; got != want {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, want)
	}

	// The trends: four charts per environment, each named and described
	// for a screen reader, and each environment's weeks as a table. The
	// story's commits are all in the last week: prod's 1.0.0 deploy, its
	// source an hour older, no rollback.
	charts := all(byID(doc, "trends"), "svg")
	if len(charts) != 4*3 {
		t.Errorf("%d trend charts, want 4 figures × 3 environments", len(charts))
	}
	for _, svg := range charts {
		if attr(svg, "role") != "img" || len(all(svg, "desc")) != 1 || !strings.HasPrefix(text(all(svg, "desc")[0]), text(all(svg, "title")[0])+" in ") {
			t.Errorf("trend chart %q: want role img, a title and a desc naming its figure and environment", attr(svg, "aria-labelledby"))
		}
	}
	weeks := all(all(byID(doc, "trend-prod"), "tbody")[0], "tr")
	if len(weeks) != 12 {
		t.Fatalf("prod's trend table has %d weeks, want 12", len(weeks))
	}
	if got, want := text(weeks[11]), s.now().Add(-7*24*time.Hour).Format("2 Jan 2006")+" 1 1h 0% –"; got != want {
		t.Errorf("prod's last week reads %q, want %q", got, want)
	}
	if got := text(weeks[0]); !strings.HasSuffix(got, " 0 – – –") {
		t.Errorf("prod's first week reads %q, want no deploys and no figures", got)
	}

	// Another pair of environments, and a service that runs the same image.
	_, _, doc = get(t, h, "/services/partner-svc?from=dev&to=staging")
	if got := text(byID(doc, "diff")); got != "partner-svc runs the same image and chart in dev and staging." {
		t.Errorf("diff dev → staging = %q", got)
	}
}

func testBadAddressesSayWhatToDo(t *testing.T, s *story) {
	h := s.dashboard(dashboard.Options{})
	for _, tc := range []struct {
		target string
		code   int
		want   string
	}{
		{"/services/nope", http.StatusNotFound, "nope is neither in delivery.yaml nor has a file under environments/"},
		{"/services/order-svc?from=staging&to=qa", http.StatusBadRequest, `unknown environment "qa"`},
		{"/services/order-svc?from=../x&to=prod", http.StatusBadRequest, "environment"},
		{"/nowhere", http.StatusNotFound, "/nowhere is not a page of the dashboard"},
	} {
		code, _, doc := get(t, h, tc.target)
		if msg := text(byID(doc, "problem")); code != tc.code || !strings.Contains(msg, tc.want) {
			t.Errorf("GET %s = %d %q, want %d with %q", tc.target, code, msg, tc.code, tc.want)
		}
	}
}

func testTheDashboardOnlyReads(t *testing.T, s *story) {
	h := s.dashboard(dashboard.Options{})
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		for _, target := range []string{"/", "/services/order-svc", "/events", "/static/live.js", "/nowhere"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader("x")))
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s = %d (Allow %q), want 405 with Allow: GET, HEAD", method, target, rec.Code, rec.Header().Get("Allow"))
			}
		}
	}
	// Nothing on a page submits anything.
	for _, target := range []string{"/", "/services/order-svc"} {
		_, _, doc := get(t, h, target)
		for _, tag := range []string{"form", "button", "input", "select", "textarea"} {
			if n := len(all(doc, tag)); n > 0 {
				t.Errorf("GET %s has %d <%s>: the dashboard has nothing that writes", target, n, tag)
			}
		}
	}
}

func testEveryAssetIsServedByTheDashboardItself(t *testing.T, s *story) {
	h := s.dashboard(dashboard.Options{})
	_, _, doc := get(t, h, "/")
	var refs []string
	for _, n := range append(all(doc, "link"), all(doc, "script")...) {
		for _, a := range n.Attr {
			if a.Key == "href" || a.Key == "src" {
				refs = append(refs, a.Val)
			}
		}
	}
	if len(refs) != 2 {
		t.Fatalf("stylesheet and script references = %q, want the two embedded files", refs)
	}
	for _, ref := range refs {
		if !strings.HasPrefix(ref, "/static/") {
			t.Errorf("%s is not served by the dashboard: the page must work offline", ref)
			continue
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ref, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s = %d, Cache-Control %q", ref, rec.Code, rec.Header().Get("Cache-Control"))
		}
		if b := rec.Body.String(); strings.Contains(b, "http://") || strings.Contains(b, "https://") || strings.Contains(b, "@import") {
			t.Errorf("%s refers to something outside the dashboard", ref)
		}
	}
}

func TestARepositoryThatIsNotSmpGitopsIsShownAsSuch(t *testing.T) {
	t.Parallel()
	plain := t.TempDir()
	gitcmdtest.Git(t, plain, "init", "--quiet", "--initial-branch=main")
	os.WriteFile(filepath.Join(plain, "README.md"), []byte("# a service\n"), 0o644)
	gitcmdtest.Git(t, plain, "add", "--all")
	gitcmdtest.Git(t, plain, "commit", "--quiet", "-m", "a service, not smp-gitops")
	notGit := t.TempDir()

	for _, tc := range []struct{ name, dir, want string }{
		{"a git repository without delivery.yaml", plain, "HEAD has no delivery.yaml"},
		{"a folder that is not a repository", notGit, "is not a git repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newDashboard(t, tc.dir, dashboard.Options{})
			for _, target := range []string{"/", "/services/order-svc"} {
				code, _, doc := get(t, h, target)
				page := text(doc)
				if code != http.StatusServiceUnavailable || !strings.Contains(page, "This is not an smp-gitops repository") ||
					!strings.Contains(page, tc.want) || !strings.Contains(page, "smpctl gitops init") {
					t.Errorf("GET %s = %d:\n%s\nwant 503 saying it is not an smp-gitops repository, why (%q) and what to do", target, code, page, tc.want)
				}
			}
		})
	}
}

func testAFragmentIsTheLivePartOnly(t *testing.T, s *story) {
	h := s.dashboard(dashboard.Options{})
	_, body, _ := get(t, h, "/?fragment=1")
	if !strings.HasPrefix(body, `<div id="live" data-head="`) || strings.Contains(body, "<html") || !strings.Contains(body, "3.3.0-rc.1") {
		t.Errorf("fragment:\n%.300s", body)
	}
}

func TestEventsAnnounceANewHeadAndThePageFollows(t *testing.T) {
	t.Parallel()
	s := newStory(t)
	d := s.dashboard(dashboard.Options{Poll: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx) //nolint:errcheck // ends with ctx
	srv := httptest.NewServer(d)
	defer srv.Close()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	events := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- v
			}
		}
		close(events)
	}()
	first := <-events
	if head := gitcmdtest.Git(t, s.bare, "rev-parse", "main"); first != head {
		t.Fatalf("first event = %q, want the head %s", first, head)
	}

	// The service page keeps what it read at a head: read it before the
	// deploy, so the page after it shows that a new head is read anew.
	if _, _, doc := get(t, d, "/services/billing-svc"); strings.Contains(text(byID(doc, "timeline")), "sha-fffffff") {
		t.Fatal("billing-svc's timeline has sha-fffffff before its deploy")
	}
	s.deploy("dev", "billing-svc", "sha-fffffff", 'f', "ci")
	head := gitcmdtest.Git(t, s.bare, "rev-parse", "main")
	if next := <-events; next != head {
		t.Fatalf("after a deploy the event = %q, want the new head %s", next, head)
	}
	_, _, doc := get(t, d, "/")
	if got := row(t, doc, "s-billing-svc")[1]; !strings.HasPrefix(got, "sha-fffffff") {
		t.Errorf("billing-svc in dev after the event = %q, want sha-fffffff", got)
	}
	_, _, doc = get(t, d, "/services/billing-svc")
	if tl := text(byID(doc, "timeline")); !strings.Contains(tl, "dev deploy sha-fffffff ci") {
		t.Errorf("billing-svc's timeline after the event = %q, want the new deploy", tl)
	}
}

func testARemoteThatStopsAnsweringLeavesTheLastViewUnderABanner(t *testing.T, s *story) {
	var down atomic.Bool
	open := opener(t, s.bare)
	d, err := dashboard.New(func(ctx context.Context) (*history.Repo, error) {
		if down.Load() {
			return nil, errors.New("fetch https://git.example/smp-gitops.git: connection refused")
		}
		return open(ctx)
	}, dashboard.Options{Now: s.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	if _, err := d.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh with the remote down: no error")
	}
	code, _, doc := get(t, d, "/")
	page := text(doc)
	if code != http.StatusOK || byID(doc, "s-order-svc") == nil ||
		!strings.Contains(page, "The last refresh failed: fetch https://git.example/smp-gitops.git: connection refused") {
		t.Errorf("GET / with the remote down = %d:\n%s\nwant the last matrix under a banner naming the error", code, page)
	}
	down.Store(false)
	if changed, err := d.Refresh(context.Background()); err != nil || !changed {
		t.Fatalf("Refresh with the remote back = %v, %v; want a change (the banner goes)", changed, err)
	}
	if _, _, doc := get(t, d, "/"); strings.Contains(text(doc), "The last refresh failed") {
		t.Error("the banner stays after the remote answers again")
	}
}

func testAnInterruptedRefreshIsNoNewsAboutTheRepository(t *testing.T, s *story) {
	d := s.dashboard(dashboard.Options{})
	if _, err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as at shutdown, or when the request that asked goes away
	if changed, err := d.Refresh(ctx); changed || !errors.Is(err, context.Canceled) {
		t.Errorf("Refresh with its context ended = %v, %v; want no change and context.Canceled", changed, err)
	}
	if _, _, doc := get(t, d, "/"); strings.Contains(text(doc), "refresh failed") || byID(doc, "s-order-svc") == nil {
		t.Errorf("after an interrupted refresh the page reads:\n%s", text(doc))
	}
}

// attr is n's attribute key, "" without it.
func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func testANotificationNotSentIsOnTheMatrixAndTheServicePage(t *testing.T, s *story) {
	h := s.dashboard(dashboard.Options{})
	_, _, doc := get(t, h, "/")
	banner := text(byID(doc, "unsent"))
	for _, want := range []string{"1 notification(s) not sent", "prod order-svc deploy 3.2.0: slack[0] not sent — slack[0]: 403 invalid_token", "smpctl notify retry"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner reads %q, want %q in it", banner, want)
		}
	}
	prod := all(byID(doc, "s-order-svc"), "td")[2]
	if m := all(prod, "span"); len(m) != 1 || !strings.Contains(attr(m[0], "title"), "deploy: slack[0]: slack[0]: 403 invalid_token") {
		t.Errorf("order-svc's prod cell has no marker naming the failure: %q", text(prod))
	}

	_, _, doc = get(t, h, "/services/order-svc")
	rows := all(byID(doc, "notifications"), "tr")
	if len(rows) != 2 {
		t.Fatalf("the service page lists %d rows of notifications, want a header and one", len(rows))
	}
	got := text(rows[1])
	if !strings.Contains(got, "prod deploy 3.2.0") || !strings.Contains(got, "slack[0] not sent slack[0]: 403 invalid_token") || !strings.HasSuffix(got, "(1 attempt(s))") {
		t.Errorf("the service page's notification reads %q", got)
	}
	if _, _, doc := get(t, h, "/services/partner-svc"); byID(doc, "notifications") != nil {
		t.Error("partner-svc's page lists notifications; none of its failed")
	}
}

// smpctl dashboard reads the repository before it serves (the first page is
// the view); the poller then reads at its next tick, not a second time at
// once. Without a read before it, Run reads at once.
func testRunAfterARefreshReadsAtItsNextPollNotAtOnce(t *testing.T, s *story) {
	var opens atomic.Int32
	open := opener(t, s.bare)
	counted := func(ctx context.Context) (*history.Repo, error) {
		opens.Add(1)
		return open(ctx)
	}
	run := func(d *dashboard.Dashboard, wait func() bool) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		testctx.Eventually(t, 10*time.Millisecond, "the poller's first read, or its wait", func() error {
			if !wait() {
				return errors.New("not yet")
			}
			return nil
		})
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	}

	// No read before: Run reads at once, whatever the poll.
	d, err := dashboard.New(counted, dashboard.Options{Now: s.now, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	run(d, func() bool { return opens.Load() == 1 })

	// A read before: within the hour's poll, Run reads nothing. Half a
	// second is far longer than its first read took above.
	opens.Store(0)
	d, err = dashboard.New(counted, dashboard.Options{Now: s.now, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	run(d, func() bool { return time.Since(began) > 500*time.Millisecond })
	if n := opens.Load(); n != 1 {
		t.Errorf("the repository was opened %d times (the Refresh and Run), want once: Run read again at once", n)
	}
}
