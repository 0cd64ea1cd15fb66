package dashboard_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/testkit/gitopsgen"
)

// The size: 200 services × dev/staging/prod and 5,000 commits,
// generated with git fast-import (gitopsgen, as the readers' benchmarks do).
var benchStart = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

func benchDashboard(b *testing.B) (*dashboard.Dashboard, string) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "gitops.git")
	if err := gitopsgen.Build(context.Background(), dir, gitopsgen.Options{Services: 200, Commits: 5000, Start: benchStart, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	return benchNew(b, dir), dir
}

func benchNew(b *testing.B, dir string) *dashboard.Dashboard {
	// An hour after the last commit (one an hour from benchStart).
	clock := benchStart.Add(5001 * time.Hour)
	d, err := dashboard.New(opener(b, dir), dashboard.Options{Now: func() time.Time { return clock }})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func serve(b *testing.B, h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s = %d: %.500s", target, rec.Code, rec.Body.String())
	}
	return rec
}

var assetRE = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)

// reportWeight reports what a browser downloads for the page: the HTML, and
// the HTML with its stylesheet and script, raw and gzip-compressed (what a
// compressing proxy in front of the dashboard would send).
func reportWeight(b *testing.B, h http.Handler, page []byte) {
	total := len(page)
	var all bytes.Buffer
	all.Write(page)
	for _, m := range assetRE.FindAllSubmatch(page, -1) {
		body := serve(b, h, string(m[1])).Body.Bytes()
		total += len(body)
		all.Write(body)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(all.Bytes()) //nolint:errcheck // in memory
	zw.Close()
	b.ReportMetric(float64(len(page)), "html-bytes")
	b.ReportMetric(float64(total), "page-bytes")
	b.ReportMetric(float64(gz.Len()), "page-gzip-bytes")
}

// BenchmarkHomeFirstRequest is / on a dashboard that has not read the
// repository yet: the status of 600 files, the approvals and the render —
// the server's share of the first paint.
func BenchmarkHomeFirstRequest(b *testing.B) {
	_, dir := benchDashboard(b)
	var page []byte
	for b.Loop() {
		page = serve(b, benchNew(b, dir), "/").Body.Bytes()
	}
	reportWeight(b, benchNew(b, dir), page)
}

// BenchmarkHomeRender is / once the view is read: what every later page
// load and live update costs until the repository changes.
func BenchmarkHomeRender(b *testing.B) {
	d, _ := benchDashboard(b)
	page := serve(b, d, "/").Body.Bytes()
	for b.Loop() {
		serve(b, d, "/")
	}
	reportWeight(b, d, page)
}

// BenchmarkServicePage is /services/NAME. "first": the first visit at a
// head — one walk of the 5,000 commits for the timeline of every
// environment, the metrics and the trend (history.Repo.Service), the diff
// from the matrix already read; "again": later visits at the same head,
// which reuse what the first one read.
func BenchmarkServicePage(b *testing.B) {
	d, dir := benchDashboard(b)
	const target = "/services/svc-007"
	b.Run("first", func(b *testing.B) {
		var page []byte
		for b.Loop() {
			b.StopTimer()
			d := benchNew(b, dir)
			serve(b, d, "/") // the matrix's read is /'s, not this page's
			b.StartTimer()
			page = serve(b, d, target).Body.Bytes()
		}
		reportWeight(b, d, page)
	})
	b.Run("again", func(b *testing.B) {
		page := serve(b, d, target).Body.Bytes()
		for b.Loop() {
			serve(b, d, target)
		}
		reportWeight(b, d, page)
	})
}

// BenchmarkFirstPaintInChromium loads / in headless Chromium and reports
// the first contentful paint the browser measured, from the navigation's
// start: the request, the render, the stylesheet and the layout. "warm" is
// the usual case — smpctl dashboard's poller has read the repository before
// anyone opens the page; "cold" is the first request after a start (or
// after a new head), which reads the repository too.
func BenchmarkFirstPaintInChromium(b *testing.B) {
	_, dir := benchDashboard(b)
	var h atomic.Pointer[dashboard.Dashboard]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Load().ServeHTTP(w, r) }))
	b.Cleanup(srv.Close)
	ctx := browser(b)
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			h.Store(benchNew(b, dir))
			serve(b, h.Load(), "/")
			var fcp float64
			n := 0
			for b.Loop() {
				if cold {
					b.StopTimer()
					h.Store(benchNew(b, dir))
					b.StartTimer()
				}
				if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#matrix")); err != nil {
					b.Fatal(err)
				}
				// The paint entry is recorded a frame after the paint: poll for it.
				ms, err := chromedp.Run(ctx, chromedp.Poll[float64](`(e => e && e.startTime)(performance.getEntriesByName("first-contentful-paint")[0])`,
					chromedp.WithPollingInterval(10*time.Millisecond)))
				if err != nil {
					b.Fatal(err)
				}
				fcp += ms
				n++
			}
			b.ReportMetric(fcp/float64(n), "fcp-ms")
		})
	}
}
