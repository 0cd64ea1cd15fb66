package dashboard_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// chromiumPath is Debian's Chromium, which scripts/tools.sh installs: the
// browser test fails without it rather than skipping, so CI cannot pass
// with the page untested.
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium with a fresh profile and no network
// chatter of its own (the machine has no internet: its background
// connections would only fail).
func browser(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser test needs Chromium at %s: install it with scripts/tools.sh chromium (Debian package chromium): %v", chromiumPath, err)
	}
	// Chromium makes a folder of its own in TMPDIR for its singleton
	// socket (org.chromium.Chromium.*) and leaves it: give it one that is
	// removed. Not t.TempDir(): a socket path longer than 107 bytes is
	// refused, and the test's name is in that one.
	tmp, err := os.MkdirTemp("", "chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR="+tmp),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
	)
	// A bound on the whole conversation with the browser: a page that
	// never shows what is waited for fails the test, before the binary's
	// deadline, instead of hanging it.
	actx, acancel := chromedp.NewExecAllocator(testctx.New(t), opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return bctx
}

// screenshot keeps what the browser shows as a test artifact
// (go test -artifacts -outputdir DIR keeps them; see docs/dashboard.md).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

func TestInABrowserAPersonSeesTheMatrixTheQueueTheHoldAndTheDiffAndThePageFollowsTheRepository(t *testing.T) {
	s := newStory(t)
	d := s.dashboard(dashboard.Options{Poll: 50 * time.Millisecond, CommitURL: "https://github.com/smp/smp-gitops/commit/{commit}"})
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go d.Run(runCtx) //nolint:errcheck // ends with runCtx
	srv := httptest.NewServer(d)
	// Closed after the browser (cleanups run last first): its /events
	// stream is open until then.
	t.Cleanup(srv.Close)
	ctx := browser(t)

	// visible is the text a person sees in the first element sel matches.
	visible := func(sel string) string {
		t.Helper()
		txt, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return txt
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	do("open the dashboard", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#matrix"))
	order, partner, held := visible("#s-order-svc"), visible("#s-partner-svc"), visible("#s-partner-svc td.held .hold")
	queue, freeze := visible("#queue tbody"), visible(".banner.freeze")
	screenshot(t, ctx, "matrix.png")
	for _, want := range []string{"3.3.0-rc.1", "3.2.0", "sha256:aaaaaaaaaaaa", "approved by minh", "24h · bob"} {
		if !strings.Contains(order, want) {
			t.Errorf("order-svc's row reads %q, want %q in it", order, want)
		}
	}
	if held != "held by oncall" || !strings.Contains(partner, "1.0.0") {
		t.Errorf("partner-svc reads %q with hold %q, want 1.0.0 in prod held by oncall", partner, held)
	}
	for _, want := range []string{"order-svc", "approval for prod by minh, thu", "partner-svc", "approved by thu as 1.1.0", "prod held"} {
		if !strings.Contains(queue, want) {
			t.Errorf("the queue reads %q, want %q in it", queue, want)
		}
	}
	if !strings.Contains(freeze, "prod is frozen: release-week") {
		t.Errorf("the freeze banner reads %q", freeze)
	}
	// The deploy nobody on Slack heard of: at the top, and on its cell.
	if unsent := visible("#unsent"); !strings.Contains(unsent, "prod order-svc deploy 3.2.0: slack[0] not sent — slack[0]: 403 invalid_token") {
		t.Errorf("the banner of notifications not sent reads %q", unsent)
	}
	if !strings.Contains(order, "not notified: slack[0]") {
		t.Errorf("order-svc's row reads %q, want its prod cell to say Slack was not told", order)
	}

	// The service page, reached as a person does: the diff staging → prod
	// and the timeline.
	do("open partner-svc", chromedp.Click("#s-partner-svc th a"), chromedp.WaitVisible("#diff"))
	diff, timeline := visible("#diff"), visible("#timeline")
	screenshot(t, ctx, "service.png")
	for _, want := range []string{"1.1.0-rc.1", "1.0.0", "sha256:dddddddddddd", "sha256:cccccccccccc"} {
		if !strings.Contains(diff, want) {
			t.Errorf("the diff reads %q, want %q in it", diff, want)
		}
	}
	if !strings.Contains(timeline, "hold") || !strings.Contains(timeline, "approved by thu") {
		t.Errorf("the timeline reads %q", timeline)
	}

	// The trends, as a person sees them: four charts per environment, each
	// captioned with its figure and named for a screen reader, and the
	// figures as a table behind a disclosure a click opens.
	do("see prod's trends", chromedp.ScrollIntoView("#trend-prod"), chromedp.WaitVisible("#trend-prod svg"))
	trends := visible("#trend-prod")
	for _, want := range []string{"Deploys per week", "Lead time p50", "Change failure rate", "Time to restore p50", "prod's figures as a table"} {
		if !strings.Contains(trends, want) {
			t.Errorf("prod's trends read %q, want %q in it", trends, want)
		}
	}
	named, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('#trends svg[role=img]')].filter(s =>
		s.getBoundingClientRect().height > 0 &&
		s.getAttribute('aria-labelledby').split(' ').every(id => (document.getElementById(id)?.textContent ?? '') !== '')).length`))
	if err != nil {
		t.Fatal(err)
	}
	if named != 12 {
		t.Errorf("%d trend charts are shown with a title and a description, want 4 figures × 3 environments", named)
	}
	do("open prod's table", chromedp.Click("#trend-prod summary"), chromedp.WaitVisible("#trend-prod table"))
	lastWeek := visible("#trend-prod tbody tr:last-child")
	screenshot(t, ctx, "trends.png")
	// prod's 1.0.0 deploy, from a source an hour older, in the last week.
	if want := s.now().Add(-7*24*time.Hour).Format("2 Jan 2006") + "\t1\t1h\t0%\t–"; lastWeek != want {
		t.Errorf("prod's last week reads %q, want %q", lastWeek, want)
	}

	// A commit to the repository shows up without a reload: the marker set
	// on the page's window survives, which a navigation would have reset.
	do("mark the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#matrix"),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	s.deploy("dev", "billing-svc", "sha-fffffff", 'f', "ci")
	do("see the new deploy", chromedp.WaitVisible(`//tr[@id="s-billing-svc"]/td[contains(., "sha-fffffff")]`))
	billing := visible("#s-billing-svc")
	marked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "live-update.png")
	if !marked {
		t.Error("the page was reloaded to show the deploy; it must update in place")
	}
	if !strings.Contains(billing, "sha-fffffff") {
		t.Errorf("billing-svc reads %q", billing)
	}
}
