package dashboard_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/smp/delivery/internal/dashboard"
)

// In Chromium, the matrix's cells say what a person must know before
// promoting: whether the approval in force is signed (the key on hover) and
// what waits behind a soak, and until when.
func TestInABrowserTheMatrixShowsSignaturesAndTheSoakQueue(t *testing.T) {
	g := newGuarded(t)
	srv := httptest.NewServer(newDashboard(t, g.bare, dashboard.Options{}))
	t.Cleanup(srv.Close)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#matrix")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	// The text a person sees: innerText, so what CSS hides does not count.
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#matrix tbody td")].map(td => td.innerText.replace(/\s+/g, " ").trim())`))
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#s-order-svc td [title]")].map(e => e.title).join("|")`))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "guards.png")
	// Rows by service name (order-svc, partner-svc), cells dev, staging, prod.
	cell := map[string]string{}
	for i, svc := range []string{"order-svc", "partner-svc"} {
		for j, env := range []string{"dev", "staging", "prod"} {
			if k := 3*i + j; k < len(seen) {
				cell[svc+"/"+env] = seen[k]
			}
		}
	}
	if got := cell["order-svc/staging"]; !strings.HasSuffix(got, "signed ✓ carol") {
		t.Errorf("order-svc in staging reads %q, want it to end \"signed ✓ carol\"", got)
	}
	if !strings.Contains(title, "approval signed with "+g.carol) {
		t.Errorf("the hover text of order-svc's cells is %q, want carol's key %s", title, g.carol)
	}
	if got := cell["partner-svc/staging"]; !strings.HasSuffix(got, "not signed: unsigned") {
		t.Errorf("partner-svc in staging reads %q, want it to say the approval is not signed", got)
	}
	want := "queued: 2.0.0, soaks until " + g.soakUntil.UTC().Format("2006-01-02 15:04Z")
	if got := cell["partner-svc/dev"]; !strings.HasPrefix(got, "1.9.0 ") || !strings.HasSuffix(got, want) {
		t.Errorf("partner-svc in dev reads %q, want 1.9.0 and %q", got, want)
	}
}
