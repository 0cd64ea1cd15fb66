// Package dashboard serves `smpctl dashboard`: read-only web pages over an
// smp-gitops repository — the environment × service matrix with the approval
// queue, active freezes and the notifications that could not be sent at /,
// and one service's timeline, environment diff, delivery metrics and their
// weekly trend charts at /services/{name} — that update themselves when the
// repository's head changes, without a reload.
//
// Everything it shows comes from the GitOps reader, internal/gitops/history
// (docs/gitops-read.md): the dashboard never decodes the repository itself,
// so it shows what `smpctl status`, `history`, `diff` and `metrics` print.
// The pages are server-rendered html/template; the stylesheet and the few
// lines of script that apply live updates (Server-Sent Events from /events)
// are embedded in the binary, so the page works with no network beyond the
// dashboard itself. It answers GET and HEAD only: there is nothing on it that
// writes.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/history"
)

// DefaultPoll is how often Run asks the repository whether its head moved.
// A remote is fetched at each poll; five seconds keeps a change on the page
// within seconds of its push at a cost of one small fetch.
const DefaultPoll = 5 * time.Second

// Opener opens the GitOps repository. It is called at every poll, so a URL
// is fetched into its mirror each time (history.Open does that), and a
// repository that was not an smp-gitops one when the dashboard started is
// shown as soon as it becomes one.
type Opener func(ctx context.Context) (*history.Repo, error)

// Options configure a Dashboard. The zero value is usable.
type Options struct {
	// CommitURL links a GitOps commit: "{commit}" is replaced by its full
	// hash, e.g. https://github.com/smp/smp-gitops/commit/{commit}. Empty:
	// commits are shown, not linked.
	CommitURL string
	// Poll is how often Run checks the head; default DefaultPoll.
	Poll time.Duration
	// Window is how far back the service page's delivery metrics count;
	// default history.DefaultWindow (30 days).
	Window time.Duration
	// Now is the clock for ages, freezes and the metrics' window; default
	// time.Now.
	Now func() time.Time
	// Log receives what goes wrong while polling; default slog.Default().
	Log *slog.Logger
	// Prometheus is the base URL of the Prometheus the metric gate asks
	// (`smpctl verify --prometheus`): the service page then shows the
	// gate's figures of the version each environment runs. Empty: no
	// figures.
	Prometheus string
	// GateWindow is the window of those figures; default the gate's (5m).
	GateWindow time.Duration
	// GateTimeout bounds each of those Prometheus queries; default 3s.
	GateTimeout time.Duration
	// Live reads what the engine runs (Argo CD's sync and health, the
	// Rollout's active and preview digests) for the matrix, at every poll.
	// Nil: the matrix shows git only.
	Live LiveReader
	// LiveWhere names that engine on the page, e.g. "cluster context prod".
	LiveWhere string
}

// Dashboard is the http.Handler of the dashboard. Its view of the
// repository is refreshed by Run (or by the first request when Run is not
// running) and shared by every request, so a page costs a render, not a
// read of 5,000 commits.
type Dashboard struct {
	open Opener
	o    Options
	mux  *http.ServeMux
	tmpl map[string]*template.Template

	mu    sync.Mutex
	cur   *view // nil until the first refresh
	subs  map[chan string]struct{}
	loads sync.Mutex // one refresh at a time
	// readAt is when the last Refresh read the repository (under loads):
	// Run's first poll waits its turn after one smpctl dashboard made
	// before serving, instead of reading again at once.
	readAt time.Time

	// reads reads what a service page shows from the history:
	// readsFromIndex (the benchmarks compare it with a walk per page).
	reads func(ctx context.Context, v *view, svc string, now time.Time) (*serviceReads, error)

	idxMu sync.Mutex
	// lastIndex is the history index of the newest head a service page
	// was read at: the base the next head's index extends (indexOf).
	lastIndex *history.Index
}

// view is the repository as last read.
type view struct {
	head   string
	repo   *history.Repo
	status *history.Status
	// approvals per gated environment, for the queue.
	approvals map[string][]history.Approval
	// ages are when the unused approvals of environments with
	// approvalMaxAge expire (history.ApprovalAges). Whether one has
	// expired is decided at render time: a view outlives its refresh.
	ages []history.ApprovalAge
	// notifications are the recorded notifications that could not be sent
	// (state/notifications), newest first, delivered since or not.
	notifications []history.Notification
	// err is why the repository cannot be shown (not a repository, not
	// smp-gitops, a broken delivery.yaml); the pages say so.
	err error
	// stale is why the last refresh failed while an older view is shown
	// (a remote that did not answer): the pages keep it, with a banner.
	stale error
	// services keeps what service pages read at this head, and index the
	// history index they read it from.
	services *serviceCache
	index    *viewIndex
	// live is the engine as the last poll read it (nil without
	// Options.Live).
	live *liveState
}

// New returns a Dashboard reading the repository open opens.
func New(open Opener, o Options) (*Dashboard, error) {
	if open == nil {
		return nil, errors.New("dashboard: no repository opener")
	}
	if o.CommitURL != "" {
		u, err := url.Parse(strings.ReplaceAll(o.CommitURL, "{commit}", "0"))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !strings.Contains(o.CommitURL, "{commit}") {
			return nil, fault.Inputf("CommitURL", "commit URL %q: give an http(s) URL with {commit} where the hash goes, e.g. https://github.com/smp/smp-gitops/commit/{commit}", o.CommitURL)
		}
	}
	if err := checkPrometheus(o); err != nil {
		return nil, err
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Window <= 0 {
		o.Window = history.DefaultWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	d := &Dashboard{open: open, o: o, subs: map[chan string]struct{}{}}
	d.reads = d.readsFromIndex
	var err error
	if d.tmpl, err = d.parseTemplates(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.home)
	mux.HandleFunc("GET /services/{name}", d.service)
	mux.HandleFunc("GET /events", d.events)
	mux.HandleFunc("GET /static/{file}", serveAsset)
	mux.HandleFunc("GET /", d.notFound)
	d.mux = mux
	return d, nil
}

// ServeHTTP serves the pages. Any method but GET and HEAD is 405: the
// dashboard only reads.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the dashboard is read-only: it answers GET and HEAD; change the GitOps repository with smpctl (deploy, promote, approve, hold)", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	// Nothing is loaded from anywhere but the dashboard, and nothing may
	// frame it.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	d.mux.ServeHTTP(w, r)
}

// Run polls the repository every Options.Poll until ctx is done, and tells
// the open pages when its head moves. It returns ctx's error.
func (d *Dashboard) Run(ctx context.Context) error {
	t := time.NewTicker(d.o.Poll)
	defer t.Stop()
	d.loads.Lock()
	fresh := !d.readAt.IsZero() && time.Since(d.readAt) < d.o.Poll
	d.loads.Unlock()
	if fresh {
		// Read within the last poll (smpctl dashboard reads before it
		// serves): the next read is at the next tick, not now again.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	for {
		if _, err := d.Refresh(ctx); err != nil && ctx.Err() == nil {
			d.o.Log.Warn("dashboard: refresh", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Refresh reads the repository again if its head moved (or it could not be
// read before) and reports whether the view changed. An error reading it
// is kept in the view and shown on the pages; Refresh returns it when it
// changed the view (the same error at the next poll is not reported again).
func (d *Dashboard) Refresh(ctx context.Context) (bool, error) {
	d.loads.Lock()
	defer d.loads.Unlock()
	prev := d.current()
	next := d.load(ctx, prev)
	d.readAt = time.Now()
	if next == prev {
		return false, nil
	}
	if ctx.Err() != nil && (next.err != nil || next.stale != nil) {
		// Shutting down, or the request that asked went away: that is no
		// news about the repository, keep what is shown.
		return false, ctx.Err()
	}
	d.mu.Lock()
	d.cur = next
	for ch := range d.subs {
		// Keep only the newest head for a slow reader.
		select {
		case <-ch:
		default:
		}
		ch <- next.key()
	}
	d.mu.Unlock()
	if next.err != nil {
		return true, next.err
	}
	return true, next.stale
}

func (d *Dashboard) current() *view {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

// load returns prev when nothing changed, else a new view.
func (d *Dashboard) load(ctx context.Context, prev *view) *view {
	fail := func(err error) *view {
		switch {
		case prev == nil:
			return &view{err: err}
		case prev.err == nil:
			// Keep showing what was read last, saying it may be old.
			if prev.stale != nil && prev.stale.Error() == err.Error() {
				return prev
			}
			v := *prev
			v.stale = err
			return &v
		case prev.err.Error() == err.Error():
			return prev
		}
		return &view{err: err}
	}
	repo, err := d.open(ctx)
	if err != nil {
		return fail(err)
	}
	head, err := repo.Head(ctx)
	if err != nil {
		return fail(err)
	}
	if prev != nil && prev.err == nil && prev.head == head {
		live := d.readLive(ctx, prev.status)
		if prev.stale == nil && live.sameAs(prev.live) {
			return prev
		}
		v := *prev
		v.stale, v.live = nil, live
		return &v
	}
	v := &view{head: head, repo: repo, approvals: map[string][]history.Approval{}, services: &serviceCache{}, index: &viewIndex{}}
	if v.status, err = repo.Status(ctx); err != nil {
		return fail(err)
	}
	// The status may have read a newer head than the one above if a commit
	// landed in between: name the view after what it shows.
	v.head = v.status.Commit
	for _, env := range v.status.Config.Environments {
		if env.Approval == "" || env.Approval == delivery.ApprovalNone {
			continue
		}
		if v.approvals[env.Name], err = repo.Approvals(ctx, v.head, env.Name); err != nil {
			return fail(err)
		}
	}
	if v.ages, err = repo.ApprovalAgesOf(ctx, v.status, d.o.Now(), v.approvals); err != nil {
		return fail(err)
	}
	if v.notifications, err = repo.Notifications(ctx, v.head); err != nil {
		return fail(err)
	}
	v.live = d.readLive(ctx, v.status)
	return v
}

// key is what /events sends: the head, or the error shown instead.
func (v *view) key() string {
	switch {
	case v.err != nil:
		return "error:" + v.err.Error()
	case v.stale != nil:
		return v.head + " stale:" + v.stale.Error()
	case v.live != nil:
		return v.head + " live:" + v.live.key
	}
	return v.head
}

// viewFor returns the current view, reading the repository first when no
// refresh has run yet.
func (d *Dashboard) viewFor(ctx context.Context) *view {
	if v := d.current(); v != nil {
		return v
	}
	if _, err := d.Refresh(ctx); err != nil {
		d.o.Log.Warn("dashboard: read the GitOps repository", "err", err)
	}
	if v := d.current(); v != nil {
		return v
	}
	return &view{err: fmt.Errorf("read the GitOps repository: %w", ctx.Err())}
}

func (d *Dashboard) subscribe() chan string {
	ch := make(chan string, 1)
	d.mu.Lock()
	d.subs[ch] = struct{}{}
	d.mu.Unlock()
	return ch
}

func (d *Dashboard) unsubscribe(ch chan string) {
	d.mu.Lock()
	delete(d.subs, ch)
	d.mu.Unlock()
}

// heartbeat keeps idle /events connections from being closed by proxies.
var heartbeat = 25 * time.Second

// events streams the view's key (the head commit) as Server-Sent Events:
// once on connect, then at every change. The page compares it with the head
// it shows and fetches its live part again when they differ.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported by this connection", http.StatusInternalServerError)
		return
	}
	ch := d.subscribe()
	defer d.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	v := d.viewFor(r.Context())
	last := ""
	send := func(key string) bool {
		if key == last {
			return true // a refresh that raced with the connection
		}
		last = key
		// A key is one line: an error message's newlines would end the event.
		_, err := fmt.Fprintf(w, "event: head\ndata: %s\n\n", strings.ReplaceAll(key, "\n", " "))
		fl.Flush()
		return err == nil
	}
	if !send(v.key()) {
		return
	}
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case key := <-ch:
			if !send(key) {
				return
			}
		case <-t.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
