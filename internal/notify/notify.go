// Package notify tells people and tools what the pipeline did: a Slack
// message (Block Kit, through an incoming webhook) for deploys, promotions,
// rollbacks, holds and gate failures; a PagerDuty page (Events API v2) when
// a gate fails in prod; a Grafana annotation on every deploy, promotion and
// rollback, so the "Deploy timeline" dashboard shows real events even for a
// service without build_info; and, for a rollback in prod, an incident
// ticket (a GitHub issue) whose link the Slack message carries.
//
// What is sent where comes from delivery.yaml's notifications
// (delivery.Notifications). A Notifier routes an Event to the Senders its
// environment and kind select and returns a Report; it never returns an
// error, because a notification must never block or fail the deploy or the
// rollback it reports: each sender gets bounded retries (429 and 5xx, with
// Retry-After honoured) within one time limit per event, and a failure
// becomes a line in the Report that says what to do.
//
// The Sender contract, which every sender in this package keeps:
//
//   - Send delivers one Event once, under ctx (its deadline is the
//     Notifier's time limit); the Notifier does the retrying.
//   - It returns a link to what it created when there is one (the incident
//     issue's URL), else "".
//   - A failure is an *Error, whose Temporary says whether another attempt
//     may succeed and whose message says what to do. No secret (webhook URL,
//     token, routing key) is ever in an error, a log line or a Report.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
)

// Kind is what happened.
type Kind = delivery.EventKind

// Event kinds (delivery.yaml's notifications name them the same way).
const (
	Deploy      = delivery.EventDeploy
	Promote     = delivery.EventPromote
	Rollback    = delivery.EventRollback
	Hold        = delivery.EventHold
	GateFailure = delivery.EventGateFailure
)

// Event is one thing the pipeline did, with what a reader needs to act on
// it. Only Kind, Env, Service and Time are required.
type Event struct {
	Kind    Kind
	Env     string
	Service string
	// Version is the image tag now in Env (for a rollback: the one restored).
	Version string
	// Digest is the image digest now in Env.
	Digest string
	// PreviousVersion and PreviousDigest ran before (for a rollback: the
	// release rolled back from).
	PreviousVersion string
	PreviousDigest  string
	// By acted; ApprovedBy approved (prod: the release manager).
	By         string
	ApprovedBy string
	// Reason given for a hold or a rollback.
	Reason string
	// DiffURL shows the change: the CLI links the smp-gitops commit that
	// made it, through delivery.yaml's notifications.commitURL.
	DiffURL string
	// RunURL is the CI run that acted.
	RunURL string
	// Gate is the metric gate's figures, for a gate failure or a rollback.
	Gate *Gate
	// GateFailed marks a rollback or hold that a failed metric gate wrote:
	// the event also goes where gate-failure events are routed (PagerDuty
	// by default), as one message per target. Without it a prod gate
	// whose onGateFailure is rollback, the default, would never page.
	GateFailed bool
	Time       time.Time
	// IncidentURL is the incident opened for this event. The Notifier sets
	// it, after opening the incident, on the copy the other senders get.
	IncidentURL string
}

// Gate is the post-deploy metric gate's figures (docs/seed.md §11).
type Gate struct {
	// ErrorRate is the share of 5xx answers, 0.05 for 5%; ErrorRateLimit the gate's limit.
	ErrorRate      float64
	ErrorRateLimit float64
	// P95 latency, and the baseline release's P95 it is compared with;
	// P95Limit is the most the gate allowed.
	P95, BaselineP95, P95Limit time.Duration
	// Requests is how many requests the figures are from.
	Requests int
}

// String says the figures in one line.
func (g Gate) String() string {
	s := fmt.Sprintf("error rate %.2f%% (limit %.2f%%); p95 %s vs baseline %s (limit %s)",
		100*g.ErrorRate, 100*g.ErrorRateLimit, g.P95, g.BaselineP95, g.P95Limit)
	if g.Requests > 0 {
		s += fmt.Sprintf("; %d requests", g.Requests)
	}
	return s
}

// Sender sends events to one service. See the package doc for the contract.
type Sender interface {
	// Name identifies the sender in Reports and logs, e.g. "slack[0]".
	Name() string
	// Send delivers e once and returns a link to what it created, if any.
	Send(ctx context.Context, e Event) (link string, err error)
}

// Result is one sender's outcome for one event.
type Result struct {
	Sender   string `json:"sender"`
	OK       bool   `json:"ok"`
	Attempts int    `json:"attempts"`
	// Link to what was created (the incident issue), if anything.
	Link string `json:"link,omitempty"`
	// Error says what failed and what to do; empty when OK.
	Error string `json:"error,omitempty"`
}

// Report is what happened to one event's notifications.
type Report struct {
	Kind    Kind     `json:"kind"`
	Env     string   `json:"environment"`
	Service string   `json:"service"`
	Results []Result `json:"results"`
	// IncidentURL is the incident opened for the event, if one was.
	IncidentURL string `json:"incidentURL,omitempty"`
}

// Failed lists the results that failed.
func (r Report) Failed() []Result {
	var f []Result
	for _, x := range r.Results {
		if !x.OK {
			f = append(f, x)
		}
	}
	return f
}

// String is one line per sender, for the CLI to print once.
func (r Report) String() string {
	if len(r.Results) == 0 {
		return fmt.Sprintf("notify: nothing configured for %s in %s", r.Kind, r.Env)
	}
	var b strings.Builder
	for _, x := range r.Results {
		switch {
		case x.OK && x.Link != "":
			fmt.Fprintf(&b, "notify: %s: sent (%s)\n", x.Sender, x.Link)
		case x.OK:
			fmt.Fprintf(&b, "notify: %s: sent\n", x.Sender)
		default:
			fmt.Fprintf(&b, "notify: %s: not sent after %d attempt(s), the %s still stands: %s\n", x.Sender, x.Attempts, r.Kind, x.Error)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Lookup returns the value of the environment variable name, and whether
// it is set. The CLI passes os.LookupEnv; tests pass a map's.
type Lookup func(name string) (string, bool)

// Defaults of a Notifier's options.
const (
	DefaultAttempts      = 3
	DefaultBackoff       = time.Second
	DefaultTimeout       = 20 * time.Second
	DefaultMaxRetryAfter = 10 * time.Second
	// PagerDutyURL is the Events API v2 endpoint.
	PagerDutyURL = "https://events.pagerduty.com/v2/enqueue"
	// GitHubAPIURL is the GitHub REST API's root.
	GitHubAPIURL = "https://api.github.com"
	// PostMortemDue is how long after a rollback its post-mortem is due
	// (docs/seed.md §13: within 48 hours).
	PostMortemDue = 48 * time.Hour
)

type options struct {
	attempts      int
	backoff       time.Duration
	timeout       time.Duration
	maxRetryAfter time.Duration
	client        *http.Client
	log           *slog.Logger
	readFile      func(string) ([]byte, error)
}

// Option configures a Notifier.
type Option func(*options)

// WithAttempts sets how many times a sender is tried per event (default 3).
func WithAttempts(n int) Option { return func(o *options) { o.attempts = max(n, 1) } }

// WithBackoff sets the wait before the second attempt, doubled before each
// later one (default 1s); a Retry-After answer overrides it.
func WithBackoff(d time.Duration) Option { return func(o *options) { o.backoff = d } }

// WithTimeout sets the time limit for all of one event's notifications,
// retries included (default 20s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxRetryAfter caps how long a Retry-After answer is waited for
// (default 10s); a longer one ends the retries.
func WithMaxRetryAfter(d time.Duration) Option { return func(o *options) { o.maxRetryAfter = d } }

// WithHTTPClient sets the client every sender uses (default: a client
// whose own timeout is the event's time limit).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithLogger sets where attempts are logged, at debug level (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Notifier routes events to the senders delivery.yaml configures.
type Notifier struct {
	cfg    *delivery.Notifications
	lookup Lookup
	o      options
}

// New returns a Notifier for cfg (nil: nothing is configured). Secrets are
// resolved when an event is sent, through lookup for environment
// variables, or read from their files; a missing one fails that sender
// only.
func New(cfg *delivery.Notifications, lookup Lookup, opts ...Option) *Notifier {
	o := options{
		attempts:      DefaultAttempts,
		backoff:       DefaultBackoff,
		timeout:       DefaultTimeout,
		maxRetryAfter: DefaultMaxRetryAfter,
		readFile:      os.ReadFile,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: o.timeout}
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if cfg == nil {
		cfg = &delivery.Notifications{}
	}
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	return &Notifier{cfg: cfg, lookup: lookup, o: o}
}

// target is a sender chosen for an event, before its secret is resolved.
type target struct {
	name   string
	secret delivery.SecretRef
	make   func(secret string) Sender
}

// Notify sends e to every sender configured for its environment and kind,
// within the time limit, and reports each outcome. It never fails: the
// caller's deploy or rollback has already happened, and a message that
// could not be sent is a line in the Report, not a reason to undo it.
//
// A rollback in an environment with incidents configured opens the
// incident first, so that the messages sent next link it; if the incident
// cannot be opened, they are sent without the link.
func (n *Notifier) Notify(ctx context.Context, e Event) Report {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, n.o.timeout)
	defer cancel()
	rep := Report{Kind: e.Kind, Env: e.Env, Service: e.Service}
	secrets := &redactor{}
	if in := n.incidentTarget(e); in != nil {
		r := n.deliver(ctx, *in, e, secrets)
		if r.OK {
			e.IncidentURL, rep.IncidentURL = r.Link, r.Link
		}
		rep.Results = append(rep.Results, r)
	}
	targets := n.targets(e)
	results := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { results[i] = n.deliver(ctx, t, e, secrets) })
	}
	wg.Wait()
	rep.Results = append(rep.Results, results...)
	return rep
}

func (n *Notifier) incidentTarget(e Event) *target {
	in := n.cfg.Incidents
	if e.Kind != Rollback || in == nil || in.GitHub == nil || !in.GitHub.OpensFor(e.Env) {
		return nil
	}
	g := *in.GitHub
	return &target{name: "github", secret: g.Secret(), make: func(token string) Sender {
		return &GitHub{APIURL: g.APIURL, Repository: g.Repository, Token: token, TokenFrom: g.Secret().String(), Labels: g.Labels, Client: n.o.client}
	}}
}

// routedBy reports whether a target with route r, whose default events
// are def, receives e: by its kind, or as a gate failure when a failed
// gate wrote it.
func (e Event) routedBy(r delivery.Route, def []delivery.EventKind) bool {
	return r.Matches(e.Env, e.Kind, def) ||
		e.GateFailed && r.Matches(e.Env, delivery.EventGateFailure, def)
}

func (n *Notifier) targets(e Event) []target {
	var ts []target
	for i, s := range n.cfg.Slack {
		if e.routedBy(s.Route, delivery.DefaultSlackEvents) {
			ts = append(ts, target{name: fmt.Sprintf("slack[%d]", i), secret: s.Secret(), make: func(url string) Sender {
				return &Slack{Label: fmt.Sprintf("slack[%d]", i), WebhookURL: url, WebhookFrom: s.Secret().String(), Client: n.o.client}
			}})
		}
	}
	for i, p := range n.cfg.PagerDuty {
		if e.routedBy(p.Route, delivery.DefaultPagerDutyEvents) {
			endpoint := PagerDutyURL
			if p.EventsURL != "" {
				endpoint = p.EventsURL
			}
			ts = append(ts, target{name: fmt.Sprintf("pagerduty[%d]", i), secret: p.Secret(), make: func(key string) Sender {
				return &PagerDuty{Label: fmt.Sprintf("pagerduty[%d]", i), URL: endpoint, RoutingKey: key, KeyFrom: p.Secret().String(), Severity: p.Severity, Client: n.o.client}
			}})
		}
	}
	if g := n.cfg.Grafana; g != nil && e.routedBy(g.Route, delivery.DefaultGrafanaEvents) {
		ts = append(ts, target{name: "grafana", secret: g.Secret(), make: func(token string) Sender {
			return &Grafana{URL: g.URL, Token: token, TokenFrom: g.Secret().String(), DashboardUID: g.DashboardUID, Client: n.o.client}
		}})
	}
	return ts
}

// deliver resolves t's secret and sends e with bounded retries.
func (n *Notifier) deliver(ctx context.Context, t target, e Event, secrets *redactor) Result {
	r := Result{Sender: t.name}
	secret, err := n.resolve(t.secret)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	secrets.add(secret)
	s := t.make(secret)
	delay := n.o.backoff
	for {
		r.Attempts++
		link, err := s.Send(ctx, e)
		if err == nil {
			r.OK, r.Link = true, link
			return r
		}
		msg := secrets.redact(err.Error())
		n.o.log.DebugContext(ctx, "notify attempt failed", "sender", t.name, "attempt", r.Attempts, "error", msg)
		// The limit (or the caller) ended this attempt: say so, not only
		// the transport's "context deadline exceeded".
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, context.DeadlineExceeded):
			r.Error = msg + fmt.Sprintf(" (the %s limit ran out during attempt %d)", n.o.timeout, r.Attempts)
			return r
		case cause != nil:
			r.Error = msg + fmt.Sprintf(" (stopped during attempt %d: %v)", r.Attempts, cause)
			return r
		}
		var se *Error
		temporary := errors.As(err, &se) && se.Temporary
		if !temporary || r.Attempts >= n.o.attempts {
			r.Error = msg
			return r
		}
		wait := delay
		if se.RetryAfter > 0 {
			if se.RetryAfter > n.o.maxRetryAfter {
				r.Error = msg + fmt.Sprintf(" (it asked to retry after %s, longer than smpctl waits: send it again later)", se.RetryAfter)
				return r
			}
			wait = se.RetryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			r.Error = msg + fmt.Sprintf(" (no time left for another attempt within the %s limit)", n.o.timeout)
			return r
		}
		select {
		case <-ctx.Done():
			r.Error = msg + fmt.Sprintf(" (stopped: %v)", context.Cause(ctx))
			return r
		case <-time.After(wait):
		}
		delay *= 2
	}
}

// resolve reads a secret from its environment variable or file.
func (n *Notifier) resolve(ref delivery.SecretRef) (string, error) {
	if ref.File != "" {
		b, err := n.o.readFile(ref.File)
		if err != nil {
			return "", fmt.Errorf("read the secret from %s: %w: mount the secret there, or name an environment variable instead in %s", ref, errors.Unwrap(err), delivery.FileName)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s is empty: write the secret into it", ref)
		}
		return v, nil
	}
	v, ok := n.lookup(ref.Env)
	if !ok || strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("%s is not set: set it in the job's environment from the secret store (for GitHub Actions: env: %s: ${{ secrets.%s }})", ref, ref.Env, ref.Env)
	}
	return strings.TrimSpace(v), nil
}

// redactor removes the secrets resolved for one event from anything said
// about it: a last line of defence behind the senders' own care.
type redactor struct {
	mu   sync.Mutex
	vals []string
}

func (r *redactor) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vals = append(r.vals, s)
}

func (r *redactor) redact(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.vals {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}
