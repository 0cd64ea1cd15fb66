package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/notify"
	"github.com/smp/delivery/internal/notify/notifycontract"
)

// stack is one set of the four services' recorded contracts.
type stack struct {
	slack   *notifycontract.Slack
	pd      *notifycontract.PagerDuty
	grafana *notifycontract.Grafana
	github  *notifycontract.GitHub
	env     map[string]string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{
		slack:   notifycontract.NewSlack(t),
		pd:      notifycontract.NewPagerDuty(t),
		grafana: notifycontract.NewGrafana(t),
		github:  notifycontract.NewGitHub(t),
	}
	s.env = map[string]string{
		"SLACK_WEBHOOK_PROD":    s.slack.WebhookURL(),
		"SLACK_WEBHOOK_DEPLOYS": s.slack.WebhookURL(),
		"PAGERDUTY_ROUTING_KEY": s.pd.RoutingKey,
		"GRAFANA_TOKEN":         s.grafana.Token,
		"INCIDENTS_TOKEN":       "incidents-token-for-the-contract-server",
	}
	return s
}

// config is delivery.yaml's notifications as a team would write them,
// pointed at the contract servers, parsed by the real parser.
func (s *stack) config(t *testing.T) *delivery.Notifications {
	t.Helper()
	c, err := delivery.Parse(fmt.Appendf(nil, `version: 2
notifications:
  slack:
    - webhookEnv: SLACK_WEBHOOK_PROD
      environments: [prod]
    - webhookEnv: SLACK_WEBHOOK_DEPLOYS
      environments: [dev, staging]
      events: [deploy]
  pagerduty:
    - routingKeyEnv: PAGERDUTY_ROUTING_KEY
      environments: [prod]
      eventsURL: %s
  grafana:
    url: %s
    tokenEnv: GRAFANA_TOKEN
  incidents:
    github:
      repository: smp/incidents
      tokenEnv: INCIDENTS_TOKEN
      apiURL: %s
`, s.pd.EnqueueURL(), s.grafana.URL, s.github.APIURL()))
	if err != nil {
		t.Fatal(err)
	}
	return c.Notifications
}

func (s *stack) notifier(t *testing.T, opts ...notify.Option) *notify.Notifier {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := s.env[k]; return v, ok }
	opts = append([]notify.Option{notify.WithBackoff(time.Millisecond)}, opts...)
	return notify.New(s.config(t), lookup, opts...)
}

var at = time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)

const (
	digestA = "sha256:8587e4b835d3aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:13507d796c0ebbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func event(kind notify.Kind, env string) notify.Event {
	return notify.Event{
		Kind: kind, Env: env, Service: "order-svc", Version: "3.3.1", Digest: digestB,
		PreviousVersion: "3.3.0", PreviousDigest: digestA, By: "dave", ApprovedBy: "carol",
		DiffURL: "https://github.com/smp/smp-gitops/commit/a3e6fe1", RunURL: "https://github.com/smp/order-svc/actions/runs/42",
		Time: at,
	}
}

func senders(r notify.Report) []string {
	var s []string
	for _, x := range r.Results {
		s = append(s, x.Sender)
	}
	return s
}

func TestEventsAreRoutedByEnvironmentAndKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind notify.Kind
		env  string
		want []string
		// gate: a failed metric gate wrote the event (GateFailed).
		gate bool
	}{
		{"a prod deploy goes to the prod channel and Grafana", notify.Deploy, "prod", []string{"slack[0]", "grafana"}, false},
		{"a dev deploy goes to the deploys channel and Grafana", notify.Deploy, "dev", []string{"slack[1]", "grafana"}, false},
		{"a staging promotion is only annotated", notify.Promote, "staging", []string{"grafana"}, false},
		{"a prod gate failure pages and posts, and is not annotated", notify.GateFailure, "prod", []string{"slack[0]", "pagerduty[0]"}, false},
		{"a dev gate failure pages no one", notify.GateFailure, "dev", nil, false},
		{"a prod hold is posted only", notify.Hold, "prod", []string{"slack[0]"}, false},
		{"a prod rollback opens the incident first", notify.Rollback, "prod", []string{"github", "slack[0]", "grafana"}, false},
		{"a staging rollback opens no incident", notify.Rollback, "staging", []string{"grafana"}, false},
		{"a prod rollback by a failed gate also pages", notify.Rollback, "prod", []string{"github", "slack[0]", "pagerduty[0]", "grafana"}, true},
		{"a prod hold by a failed gate also pages", notify.Hold, "prod", []string{"slack[0]", "pagerduty[0]"}, true},
		{"a dev rollback by a failed gate pages no one", notify.Rollback, "dev", []string{"grafana"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t)
			e := event(tc.kind, tc.env)
			e.GateFailed = tc.gate
			rep := s.notifier(t).Notify(t.Context(), e)
			if got := senders(rep); !slices.Equal(got, tc.want) {
				t.Fatalf("senders = %v, want %v", got, tc.want)
			}
			if f := rep.Failed(); len(f) > 0 {
				t.Fatalf("failed: %+v", f)
			}
			if len(tc.want) == 0 && !strings.Contains(rep.String(), "nothing configured for gate-failure in dev") {
				t.Errorf("report = %q", rep.String())
			}
			// GitHub's lookup of an incident already open is not a send.
			hits := s.slack.Hits() + s.pd.Hits() + s.grafana.Hits() + s.github.Hits() - s.github.Lists()
			if hits != len(tc.want) {
				t.Errorf("%d requests reached the services, want %d", hits, len(tc.want))
			}
		})
	}
}

func TestAProdRollbackOpensAnIncidentAndSlackLinksIt(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	e := event(notify.Rollback, "prod")
	e.Version, e.Digest, e.PreviousVersion, e.PreviousDigest = "3.3.0", digestA, "3.3.1", digestB
	e.By, e.Reason = "oncall", "5xx spike"
	e.Gate = &notify.Gate{ErrorRate: 0.4983, ErrorRateLimit: 0.02, P95: 12 * time.Millisecond, BaselineP95: 9 * time.Millisecond, P95Limit: 34 * time.Millisecond, Requests: 1298}
	rep := s.notifier(t).Notify(t.Context(), e)

	const issue = "https://github.com/smp/incidents/issues/1"
	if rep.IncidentURL != issue || rep.Results[0].Link != issue || len(rep.Failed()) > 0 {
		t.Fatalf("report = %+v", rep)
	}
	gh := s.github.Requests()
	if len(gh) != 1 {
		t.Fatalf("%d issues opened", len(gh))
	}
	if title := gh[0].Body["title"]; title != "Rollback in prod: order-svc 3.3.1 → 3.3.0" {
		t.Errorf("title = %q", title)
	}
	body, _ := gh[0].Body["body"].(string)
	for _, want := range []string{
		"rolled back in **prod** at 2026-12-04 10:30:00 UTC by **oncall**",
		"Reason: 5xx spike",
		"| rolled back from | 3.3.1 | `" + digestB + "` |",
		"| running now | 3.3.0 | `" + digestA + "` |",
		"- error rate: 49.83% (limit 2.00%)",
		"- p95 latency: 12ms vs baseline 9ms (limit 34ms)",
		"- CI run: https://github.com/smp/order-svc/actions/runs/42",
		"Due by **2026-12-06 10:30 UTC**",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("issue body lacks %q:\n%s", want, body)
		}
	}
	if labels := fmt.Sprint(gh[0].Body["labels"]); labels != "[incident]" {
		t.Errorf("labels = %s", labels)
	}
	sl := s.slack.Requests()
	if len(sl) != 1 {
		t.Fatalf("%d Slack messages", len(sl))
	}
	if !strings.Contains(string(sl[0].Raw), "Incident: \\u003c"+issue+"|") {
		t.Errorf("the Slack message does not link the incident:\n%s", sl[0].Raw)
	}
}

func TestAnIncidentThatCannotBeOpenedStillLetsSlackPost(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.github.Script(notifycontract.GitHubBadCredentials)
	rep := s.notifier(t).Notify(t.Context(), event(notify.Rollback, "prod"))
	f := rep.Failed()
	if len(f) != 1 || f[0].Sender != "github" || f[0].Attempts != 1 {
		t.Fatalf("failed = %+v", f)
	}
	for _, want := range []string{"401 Bad credentials", "the token in environment variable INCIDENTS_TOKEN is not valid"} {
		if !strings.Contains(f[0].Error, want) {
			t.Errorf("error %q lacks %q", f[0].Error, want)
		}
	}
	if strings.Contains(rep.String(), s.env["INCIDENTS_TOKEN"]) {
		t.Errorf("the report shows the token: %s", rep)
	}
	if n := len(s.slack.Requests()); n != 1 || strings.Contains(string(s.slack.Requests()[0].Raw), "Incident:") {
		t.Errorf("Slack got %d messages, want 1 without an incident link", n)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		script       []notifycontract.Answer
		opts         []notify.Option
		ok           bool
		attempts     int
		errorMention []string
	}{
		{
			name:   "a 429 is retried after the Retry-After it gives",
			script: []notifycontract.Answer{notifycontract.SlackRateLimited(1)},
			ok:     true, attempts: 2,
		},
		{
			name:   "5xx answers are retried with backoff",
			script: []notifycontract.Answer{notifycontract.SlackServerError, notifycontract.SlackServerError},
			ok:     true, attempts: 3,
		},
		{
			name:     "the attempts are bounded",
			script:   []notifycontract.Answer{notifycontract.SlackServerError, notifycontract.SlackServerError, notifycontract.SlackServerError},
			attempts: 3, errorMention: []string{"slack[0]: 500 rollup_error", "smpctl retried"},
		},
		{
			name:     "a Retry-After longer than smpctl waits ends the retries",
			script:   []notifycontract.Answer{notifycontract.SlackRateLimited(3600)},
			attempts: 1, errorMention: []string{"429 rate_limited", "retry after 1h0m0s, longer than smpctl waits"},
		},
		{
			name:   "the retries end within the time limit",
			script: slices.Repeat([]notifycontract.Answer{notifycontract.SlackServerError}, 100),
			opts:   []notify.Option{notify.WithAttempts(100), notify.WithBackoff(40 * time.Millisecond), notify.WithTimeout(500 * time.Millisecond)},
			// Which of the two ways the limit ends them depends on how fast
			// the machine answers: before a wait that would outlast it, or
			// during an attempt that started with little time left.
			errorMention: []string{"the 500ms limit"},
		},
		{
			name:     "a revoked webhook is not retried and says how to replace it",
			script:   []notifycontract.Answer{notifycontract.SlackRevoked},
			attempts: 1, errorMention: []string{"slack[0]: 404 no_service: the webhook URL in environment variable SLACK_WEBHOOK_PROD was revoked", "create a new incoming webhook"},
		},
		{
			name:     "an archived channel is not retried",
			script:   []notifycontract.Answer{notifycontract.SlackArchived},
			attempts: 1, errorMention: []string{"410 channel_is_archived", "create an incoming webhook for a live channel"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t)
			s.slack.Script(tc.script...)
			rep := s.notifier(t, tc.opts...).Notify(t.Context(), event(notify.Hold, "prod"))
			if len(rep.Results) != 1 {
				t.Fatalf("results = %+v", rep.Results)
			}
			r := rep.Results[0]
			if r.OK != tc.ok || (tc.attempts > 0 && r.Attempts != tc.attempts) {
				t.Fatalf("result = %+v, want ok %v after %d attempts", r, tc.ok, tc.attempts)
			}
			if !tc.ok && r.Attempts >= 100 {
				t.Fatalf("all %d attempts were made: the time limit did not stop them", r.Attempts)
			}
			for _, want := range tc.errorMention {
				if !strings.Contains(r.Error, want) {
					t.Errorf("error %q lacks %q", r.Error, want)
				}
			}
			if strings.Contains(r.Error, "s3cr3t") {
				t.Errorf("the error shows the webhook: %s", r.Error)
			}
		})
	}
}

func TestPagerDutyAndGitHubAreRetriedToo(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.pd.Script(notifycontract.PagerDutyThrottled, notifycontract.PagerDutyDown)
	s.github.Script(notifycontract.GitHubServerError)
	gate := event(notify.GateFailure, "prod")
	rollback := event(notify.Rollback, "prod")
	n := s.notifier(t)
	for _, e := range []notify.Event{gate, rollback} {
		if rep := n.Notify(t.Context(), e); len(rep.Failed()) > 0 {
			t.Fatalf("%s: failed %+v", e.Kind, rep.Failed())
		}
	}
	if got := len(s.pd.Requests()); got != 3 {
		t.Errorf("PagerDuty got %d requests, want 3 (429, 503, 202)", got)
	}
	if got := len(s.github.Requests()); got != 2 {
		t.Errorf("GitHub got %d requests, want 2 (502, 201)", got)
	}
}

// TestAnIncidentWhoseAnswerWasLostIsNotOpenedTwice: GitHub opened the issue
// but the answer was a 502 (a proxy gave up): the retry finds the issue by
// the marker in its body instead of opening a second, and so does a resend
// of the same event later (the outbox's); another rollback opens its own.
func TestAnIncidentWhoseAnswerWasLostIsNotOpenedTwice(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.github.LoseNextAnswer()
	n := s.notifier(t)
	e := event(notify.Rollback, "prod")
	const issue = "https://github.com/smp/incidents/issues/1"
	for i := range 2 {
		rep := n.Notify(t.Context(), e)
		if rep.IncidentURL != issue || len(rep.Failed()) > 0 {
			t.Fatalf("send %d: incident %q, failed %+v; want %s", i+1, rep.IncidentURL, rep.Failed(), issue)
		}
	}
	if got := len(s.github.Requests()); got != 1 {
		t.Errorf("GitHub got %d create requests, want 1 (the retry and the resend found the issue)", got)
	}
	if got := s.github.Lists(); got != 3 {
		t.Errorf("GitHub got %d lookups, want 3 (before each create attempt and the resend)", got)
	}
	other := e
	other.Time = e.Time.Add(time.Hour)
	if rep := n.Notify(t.Context(), other); rep.IncidentURL != "https://github.com/smp/incidents/issues/2" {
		t.Errorf("a later rollback's incident %q, want a new issue", rep.IncidentURL)
	}
	body, _ := s.github.Requests()[0].Body["body"].(string)
	if !strings.Contains(body, "<!-- smp-delivery incident: prod/order-svc "+digestA+"→"+digestB+" at ") {
		t.Errorf("the issue body has no marker that finds it again:\n%s", body)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestAnUnreachableServiceIsReportedOnceWithoutTheSecret(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const secret = "T0SMP/B0SMP/n0tT0B3Sh0wn"
	s.env["SLACK_WEBHOOK_PROD"] = "http://" + closedPort(t) + "/services/" + secret
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rep := s.notifier(t, notify.WithLogger(log)).Notify(t.Context(), event(notify.Deploy, "prod"))

	f := rep.Failed()
	if len(f) != 1 || f[0].Sender != "slack[0]" || f[0].Attempts != 3 {
		t.Fatalf("failed = %+v", f)
	}
	for _, want := range []string{"cannot reach 127.0.0.1:", "connection refused", "check that this machine can reach it", "the deploy or rollback is done"} {
		if !strings.Contains(f[0].Error, want) {
			t.Errorf("error %q lacks %q", f[0].Error, want)
		}
	}
	out := rep.String()
	if strings.Count(out, "cannot reach") != 1 || !strings.Contains(out, "notify: slack[0]: not sent after 3 attempt(s), the deploy still stands") {
		t.Errorf("report:\n%s", out)
	}
	if !strings.Contains(out, "notify: grafana: sent") {
		t.Errorf("Grafana was not sent while Slack was down:\n%s", out)
	}
	for what, text := range map[string]string{"report": out, "log": logs.String()} {
		if strings.Contains(text, "n0tT0B3Sh0wn") || strings.Contains(text, s.env["GRAFANA_TOKEN"]) {
			t.Errorf("the %s shows a secret:\n%s", what, text)
		}
	}
	if !strings.Contains(logs.String(), "notify attempt failed") {
		t.Errorf("the attempts were not logged:\n%s", logs.String())
	}
}

func TestSecretsAreReadFromEnvironmentVariablesOrFiles(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	file := filepath.Join(t.TempDir(), "slack-webhook")
	if err := os.WriteFile(file, []byte(s.slack.WebhookURL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "absent")
	cfg := &delivery.Notifications{Slack: []delivery.SlackTarget{
		{WebhookFile: file},
		{WebhookEnv: "SLACK_WEBHOOK_PROD"},
		{WebhookEnv: "SLACK_WEBHOOK_UNSET"},
		{WebhookFile: missing},
	}}
	lookup := func(k string) (string, bool) { v, ok := s.env[k]; return v, ok }
	rep := notify.New(cfg, lookup, notify.WithBackoff(time.Millisecond)).Notify(context.Background(), event(notify.Deploy, "prod"))
	want := []struct {
		ok      bool
		mention string
	}{
		{true, ""},
		{true, ""},
		{false, "environment variable SLACK_WEBHOOK_UNSET is not set: set it in the job's environment"},
		{false, "read the secret from file " + missing + ": no such file or directory: mount the secret there"},
	}
	for i, w := range want {
		r := rep.Results[i]
		if r.OK != w.ok || !strings.Contains(r.Error, w.mention) {
			t.Errorf("%s = %+v, want ok %v mentioning %q", r.Sender, r, w.ok, w.mention)
		}
		if !w.ok && r.Attempts != 0 {
			t.Errorf("%s: %d attempts without a secret", r.Sender, r.Attempts)
		}
	}
	if n := len(s.slack.Requests()); n != 2 {
		t.Errorf("Slack got %d messages, want 2", n)
	}
}

func TestWhatEachServiceReceives(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	n := s.notifier(t)
	gate := event(notify.GateFailure, "prod")
	gate.Gate = &notify.Gate{ErrorRate: 0.5, ErrorRateLimit: 0.02, P95: time.Millisecond, BaselineP95: time.Millisecond, P95Limit: 26 * time.Millisecond}
	gate.Reason = strings.Repeat("a reason longer than a Block Kit section allows <script> & more ", 60)
	if rep := n.Notify(t.Context(), gate); len(rep.Failed()) > 0 {
		t.Fatalf("failed: %+v", rep.Failed())
	}
	if rep := n.Notify(t.Context(), event(notify.Deploy, "prod")); len(rep.Failed()) > 0 {
		t.Fatalf("failed: %+v", rep.Failed())
	}

	pd := s.pd.Requests()[0].Body
	payload, _ := pd["payload"].(map[string]any)
	if pd["dedup_key"] != "smp/prod/order-svc/13507d796c0e/gate-failure" || pd["event_action"] != "trigger" || payload["severity"] != "critical" {
		t.Errorf("PagerDuty event = %v", pd)
	}
	if sum, _ := payload["summary"].(string); !strings.HasPrefix(sum, "Gate failed: order-svc 3.3.1 in prod: error rate 50.00% (limit 2.00%)") {
		t.Errorf("summary = %q", sum)
	}

	ann := s.grafana.Requests()[0].Body
	if ann["time"] != float64(at.UnixMilli()) {
		t.Errorf("annotation time = %v, want %d (ms)", ann["time"], at.UnixMilli())
	}
	if tags := fmt.Sprint(ann["tags"]); tags != "[smp-delivery service:order-svc env:prod event:deploy version:3.3.1]" {
		t.Errorf("tags = %s", tags)
	}
	if _, ok := ann["dashboardUID"]; ok {
		t.Errorf("an organization annotation has a dashboardUID: %v", ann)
	}

	msgs := s.slack.Requests()
	if len(msgs) != 2 {
		t.Fatalf("%d Slack messages", len(msgs))
	}
	raw := string(msgs[1].Raw)
	for _, want := range []string{
		`"text":":rocket: Deploy: order-svc 3.3.1 to prod"`,
		"Digest `13507d796c0e` (was `8587e4b835d3`)",
		"By dave, approved by carol",
		`\u003chttps://github.com/smp/smp-gitops/commit/a3e6fe1|diff\u003e · \u003chttps://github.com/smp/order-svc/actions/runs/42|CI run\u003e`,
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("the deploy message lacks %s:\n%s", want, raw)
		}
	}
	if strings.Contains(string(msgs[0].Raw), "<script>") {
		t.Errorf("mrkdwn not escaped:\n%s", msgs[0].Raw)
	}
}

func TestAServiceThatNeverAnswersIsGivenUpWithinTheTimeLimit(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// A Grafana that accepts the connection and never answers: only the
	// time limit ends the wait.
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(stop) }) // runs first: Close waits for the handler
	cfg := s.config(t)
	cfg.Grafana.URL = hang.URL
	// Grafana alone: the 300 ms limit is the whole notification's, and on a
	// loaded machine a healthy sender can miss it too; what is tested is
	// that the one that never answers is given up.
	cfg.Slack, cfg.PagerDuty, cfg.Incidents = nil, nil, nil
	lookup := func(k string) (string, bool) { v, ok := s.env[k]; return v, ok }
	rep := notify.New(cfg, lookup, notify.WithTimeout(300*time.Millisecond), notify.WithBackoff(time.Millisecond)).
		Notify(t.Context(), event(notify.Deploy, "prod"))
	if len(rep.Results) != 1 {
		t.Fatalf("results %+v, want Grafana's alone", rep.Results)
	}
	g := rep.Results[0]
	if g.OK || !strings.Contains(g.Error, "grafana: cannot reach 127.0.0.1:") || !strings.Contains(g.Error, "no answer in time") {
		t.Fatalf("grafana = %+v", g)
	}
	if !strings.Contains(g.Error, "the 300ms limit") && !strings.Contains(g.Error, "stopped") {
		t.Errorf("the error does not say the time limit ended it: %s", g.Error)
	}
}
