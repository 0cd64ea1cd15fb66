package delivery

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
)

const notifyHead = "version: 2\nenvironments: [{name: dev}, {name: staging}, {name: prod}]\n"

func TestNotificationsParse(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(notifyHead + `notifications:
  slack:
    - webhookEnv: SLACK_WEBHOOK_PROD
      environments: [prod]
    - webhookFile: /run/secrets/slack-deploys
      environments: [dev, staging]
      events: [deploy]
  pagerduty:
    - routingKeyEnv: PAGERDUTY_ROUTING_KEY
      environments: [prod]
  grafana:
    url: https://grafana.smp.vn
    tokenEnv: GRAFANA_TOKEN
  incidents:
    github: {repository: smp/incidents, tokenEnv: INCIDENTS_TOKEN}
  commitURL: https://github.com/smp/smp-gitops/commit/{commit}
`))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notifications
	if len(n.Slack) != 2 || n.Slack[1].Secret() != (SecretRef{File: "/run/secrets/slack-deploys"}) || n.Grafana.Secret().Env != "GRAFANA_TOKEN" {
		t.Fatalf("notifications = %+v", n)
	}
	if got, want := n.CommitLink("0123abc"), "https://github.com/smp/smp-gitops/commit/0123abc"; got != want {
		t.Errorf("CommitLink = %q, want %q", got, want)
	}
	if got := (&Notifications{}).CommitLink("0123abc"); got != "" {
		t.Errorf("without commitURL, CommitLink = %q, want no link", got)
	}
	routes := []struct {
		name  string
		route Route
		def   []EventKind
		env   string
		kind  EventKind
		want  bool
	}{
		{"the prod channel hears every kind by default", n.Slack[0].Route, DefaultSlackEvents, "prod", EventHold, true},
		{"the prod channel does not hear dev", n.Slack[0].Route, DefaultSlackEvents, "dev", EventDeploy, false},
		{"the deploys channel hears only deploys", n.Slack[1].Route, DefaultSlackEvents, "dev", EventRollback, false},
		{"PagerDuty pages on a prod gate failure", n.PagerDuty[0].Route, DefaultPagerDutyEvents, "prod", EventGateFailure, true},
		{"PagerDuty does not page on a prod deploy", n.PagerDuty[0].Route, DefaultPagerDutyEvents, "prod", EventDeploy, false},
		{"Grafana marks every environment's deploys", n.Grafana.Route, DefaultGrafanaEvents, "dev", EventDeploy, true},
		{"Grafana does not mark holds", n.Grafana.Route, DefaultGrafanaEvents, "prod", EventHold, false},
	}
	for _, r := range routes {
		if got := r.route.Matches(r.env, r.kind, r.def); got != r.want {
			t.Errorf("%s: Matches(%s, %s) = %v", r.name, r.env, r.kind, got)
		}
	}
	if !n.Incidents.GitHub.OpensFor("prod") || n.Incidents.GitHub.OpensFor("staging") {
		t.Error("incidents open for prod rollbacks only by default")
	}
}

func TestNotificationsRefuseMistakesWithThePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, want string }{
		{"notifications need version 2", "notifications: {slack: [{webhookEnv: SLACK}]}\n", "write version: 2"},
		{"a pasted webhook URL under a known key", notifyHead + "notifications: {slack: [{webhookEnv: 'https://hooks.slack.com/services/T0/B0/XXXX'}]}\n", "notifications.slack[0].webhookEnv (line 3): this looks like a secret itself"},
		{"a pasted webhook URL under a made-up key", notifyHead + "notifications: {slack: [{webhook: 'https://hooks.slack.com/services/T0/B0/XXXX'}]}\n", "notifications.slack[0].webhook (line 3): this looks like a secret itself"},
		{"a GitHub token", notifyHead + "notifications: {incidents: {github: {repository: smp/incidents, tokenEnv: ghp_abcdefghijklmnopqrstuvwxyz0123456789}}}\n", "revoke this one"},
		{"a PagerDuty routing key", notifyHead + "notifications: {pagerduty: [{routingKeyEnv: 0123456789abcdef0123456789abcdef}]}\n", "looks like a secret itself"},
		{"no secret", notifyHead + "notifications: {slack: [{environments: [prod]}]}\n", "notifications.slack[0]: no secret: set webhookEnv"},
		{"two secrets", notifyHead + "notifications: {slack: [{webhookEnv: A, webhookFile: /a}]}\n", "both webhookEnv and webhookFile"},
		{"not a variable name", notifyHead + "notifications: {slack: [{webhookEnv: slack-webhook}]}\n", `"slack-webhook" is not an environment variable name`},
		{"a relative file", notifyHead + "notifications: {slack: [{webhookFile: secrets/slack}]}\n", "not an absolute path"},
		{"an unknown environment", notifyHead + "notifications: {slack: [{webhookEnv: S, environments: [qa]}]}\n", `notifications.slack[0].environments: unknown environment "qa"`},
		{"an unknown event", notifyHead + "notifications: {slack: [{webhookEnv: S, events: [deployed]}]}\n", `notifications.slack[0].events: "deployed" is not one of`},
		{"a PagerDuty endpoint that is not a URL", notifyHead + "notifications: {pagerduty: [{routingKeyEnv: P, eventsURL: events.eu.pagerduty.com}]}\n", `notifications.pagerduty[0].eventsURL: "events.eu.pagerduty.com" is not an http(s) URL`},
		{"a bad severity", notifyHead + "notifications: {pagerduty: [{routingKeyEnv: P, severity: high}]}\n", `notifications.pagerduty[0].severity: "high"`},
		{"Grafana credentials in the URL", notifyHead + "notifications: {grafana: {url: 'https://admin:pw@grafana.smp.vn', tokenEnv: G}}\n", "has credentials in it"},
		{"Grafana without a URL", notifyHead + "notifications: {grafana: {tokenEnv: G}}\n", "notifications.grafana.url: missing"},
		{"a commit URL without {commit}", notifyHead + "notifications: {commitURL: 'https://github.com/smp/smp-gitops/commit/'}\n", `notifications.commitURL: "https://github.com/smp/smp-gitops/commit/" has no {commit}`},
		{"a commit URL that is not http(s)", notifyHead + "notifications: {commitURL: 'ftp://git.example/{commit}'}\n", `notifications.commitURL: "ftp://git.example/{commit}" is not an http(s) URL`},
		{"credentials in the commit URL", notifyHead + "notifications: {commitURL: 'https://bot:pw@git.example/c/{commit}'}\n", "notifications.commitURL: https://git.example: has credentials in it"},
		{"a repository that is not owner/name", notifyHead + "notifications: {incidents: {github: {repository: incidents, tokenEnv: T}}}\n", "is not owner/name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.want)
			}
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("error %v is not invalid input (exit 2)", err)
			}
			if strings.Contains(err.Error(), "XXXX") || strings.Contains(err.Error(), "ghp_") || strings.Contains(err.Error(), "0123456789abcdef") {
				t.Fatalf("the error repeats the secret: %v", err)
			}
		})
	}
}

func TestNotificationsInAFormatOneSmpctlsEyes(t *testing.T) {
	t.Parallel()
	// A format-1 smpctl reads a version 2 file ignoring notifications and
	// refuses to write it; this smpctl, of format 2, writes it.
	c, err := Parse([]byte(notifyHead + "notifications: {slack: [{webhookEnv: S}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckWritable(); err != nil {
		t.Fatalf("CheckWritable = %v", err)
	}
}

// gitops init writes the scaffold; the format's rule is that it writes the
// newest version, and its commented example must read once uncommented.
func TestTheScaffoldIsOfTheNewestFormat(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../deploy/gitops/files/delivery.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil || c.Version != FormatVersion {
		t.Fatalf("scaffold: version %v, error %v; want version %d", c, err, FormatVersion)
	}
	var uncommented []string
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "# "); ok && (strings.HasPrefix(rest, "notifications:") || strings.HasPrefix(rest, "trustedWorkflows:") || strings.HasPrefix(rest, "  ")) {
			l = rest
		}
		uncommented = append(uncommented, l)
	}
	c, err = Parse([]byte(strings.Join(uncommented, "")))
	if err != nil || c.Notifications == nil || len(c.Notifications.Slack) != 1 || c.Notifications.Incidents.GitHub.Repository != "smp/incidents" ||
		!slices.Equal(c.TrustedWorkflows, DefaultTrustedWorkflows) || c.Environments[2].GitHubEnv() != "production" {
		t.Fatalf("the scaffold's example, uncommented: %+v, %v", c, err)
	}
}

// FuzzParseNotifications checks that no delivery.yaml Parse accepts holds
// a secret in notifications, or names one in a way smpctl cannot read.
func FuzzParseNotifications(f *testing.F) {
	cases, _ := filepath.Glob("testdata/*/original/delivery.yaml")
	for _, c := range cases {
		b, _ := os.ReadFile(c)
		f.Add(b)
	}
	f.Add([]byte(notifyHead + "notifications: {slack: [{webhookEnv: SLACK_WEBHOOK_PROD, events: [deploy]}], grafana: {url: 'https://g.smp.vn', tokenFile: /run/g}}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Parse(in)
		if err != nil || c.Notifications == nil || c.Version > FormatVersion {
			return
		}
		n := c.Notifications
		refs := []SecretRef{}
		for _, s := range n.Slack {
			refs = append(refs, s.Secret())
		}
		for _, p := range n.PagerDuty {
			refs = append(refs, p.Secret())
		}
		if n.Grafana != nil {
			refs = append(refs, n.Grafana.Secret())
		}
		if n.Incidents != nil && n.Incidents.GitHub != nil {
			refs = append(refs, n.Incidents.GitHub.Secret())
		}
		for _, r := range refs {
			if (r.Env == "") == (r.File == "") || looksLikeSecret(r.Env) || r.Env != "" && !envNameRE.MatchString(r.Env) || r.File != "" && !filepath.IsAbs(r.File) {
				t.Fatalf("accepted secret reference %+v in %q", r, in)
			}
		}
	})
}
