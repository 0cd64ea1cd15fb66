package delivery

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
)

// NotificationsVersion is the format version that added notifications: a
// file that configures them says version: 2 (or more), so that an smpctl of
// format 1 reads the file (ignoring them) and refuses to write it, instead
// of deploying to prod without the messages and the incident ticket the
// team relies on.
const NotificationsVersion = 2

// EventKind is what happened, as notifications route it.
type EventKind string

// Event kinds.
const (
	EventDeploy      EventKind = "deploy"       // deploy wrote a new image to an environment
	EventPromote     EventKind = "promote"      // promote copied an image from the environment before
	EventRollback    EventKind = "rollback"     // rollback (or deploy --rollback) restored an earlier digest
	EventHold        EventKind = "hold"         // a hold stopped deploys and promotions
	EventGateFailure EventKind = "gate-failure" // the post-deploy metric gate failed
)

// EventKinds lists every event kind, in the order docs show them.
var EventKinds = []EventKind{EventDeploy, EventPromote, EventRollback, EventHold, EventGateFailure}

// Notifications says who hears about what smpctl did: Slack messages,
// PagerDuty pages, Grafana annotations and incident tickets. Each target
// routes by environment and event kind. Secrets are never in the file: a
// target names the environment variable or the file that holds its secret
// (SecretRef), and a value that looks like a secret itself is refused.
type Notifications struct {
	// Slack incoming webhooks (Block Kit messages); one per channel.
	Slack []SlackTarget `yaml:"slack,omitempty" json:"slack,omitempty"`
	// PagerDuty Events API v2 integrations; one per service.
	PagerDuty []PagerDutyTarget `yaml:"pagerduty,omitempty" json:"pagerduty,omitempty"`
	// Grafana annotations, for the "Deploy timeline" dashboard.
	Grafana *GrafanaTarget `yaml:"grafana,omitempty" json:"grafana,omitempty"`
	// Incidents opened on a rollback.
	Incidents *Incidents `yaml:"incidents,omitempty" json:"incidents,omitempty"`
	// CommitURL is the web page of one commit of this repository, with
	// "{commit}" where the full hash goes, e.g.
	// https://github.com/smp/smp-gitops/commit/{commit}. A deploy,
	// promotion, rollback or hold links the commit that made it as its
	// diff: that commit is the change (the image's tag and digest, or the
	// hold). smpctl cannot derive the page from the remote it pushes to
	// (an SSH address, a local path, a mirror), so it is said here, once,
	// next to the repository it describes. Without it messages carry no
	// diff link.
	CommitURL string `yaml:"commitURL,omitempty" json:"commitURL,omitempty"`
}

// CommitLink is the web page of commit (CommitURL with the hash in it),
// or "" without a CommitURL or a commit.
func (n *Notifications) CommitLink(commit string) string {
	if n == nil || n.CommitURL == "" || commit == "" {
		return ""
	}
	return strings.ReplaceAll(n.CommitURL, "{commit}", commit)
}

// Route selects the events a target receives: an event is sent when its
// environment is in Environments (empty: every environment) and its kind in
// Events (empty: the target's default, which DefaultEvents gives).
type Route struct {
	Environments []string    `yaml:"environments,omitempty" json:"environments,omitempty"`
	Events       []EventKind `yaml:"events,omitempty" json:"events,omitempty"`
}

// Matches reports whether an event of kind in env goes to a target with
// this route, whose default events are def.
func (r Route) Matches(env string, kind EventKind, def []EventKind) bool {
	if len(r.Environments) > 0 && !slices.Contains(r.Environments, env) {
		return false
	}
	events := r.Events
	if len(events) == 0 {
		events = def
	}
	return slices.Contains(events, kind)
}

// Default events per target, when its route lists none.
var (
	// Slack hears about everything a person may need to act on.
	DefaultSlackEvents = EventKinds
	// PagerDuty pages only when the gate failed: the rest needs no one woken.
	DefaultPagerDutyEvents = []EventKind{EventGateFailure}
	// Grafana marks every change of what runs: the dashboard's overlay.
	DefaultGrafanaEvents = []EventKind{EventDeploy, EventPromote, EventRollback}
)

// SecretRef says where a secret is read from: an environment variable or a
// file (such as a mounted Kubernetes secret). Exactly one is set.
type SecretRef struct {
	Env  string `json:"env,omitempty"`
	File string `json:"file,omitempty"`
}

// String names the secret's location, never its value.
func (s SecretRef) String() string {
	if s.File != "" {
		return "file " + s.File
	}
	return "environment variable " + s.Env
}

// SlackTarget is one Slack incoming webhook.
type SlackTarget struct {
	// WebhookEnv names the environment variable holding the webhook URL.
	WebhookEnv string `yaml:"webhookEnv,omitempty" json:"webhookEnv,omitempty"`
	// WebhookFile is the absolute path of a file holding the webhook URL.
	WebhookFile string `yaml:"webhookFile,omitempty" json:"webhookFile,omitempty"`
	Route       `yaml:",inline"`
}

// Secret returns where the webhook URL is read from.
func (t SlackTarget) Secret() SecretRef { return SecretRef{Env: t.WebhookEnv, File: t.WebhookFile} }

// PagerDutyTarget is one PagerDuty Events API v2 integration.
type PagerDutyTarget struct {
	// RoutingKeyEnv names the environment variable holding the integration's routing key.
	RoutingKeyEnv string `yaml:"routingKeyEnv,omitempty" json:"routingKeyEnv,omitempty"`
	// RoutingKeyFile is the absolute path of a file holding the routing key.
	RoutingKeyFile string `yaml:"routingKeyFile,omitempty" json:"routingKeyFile,omitempty"`
	// Severity of the alert: critical (default), error, warning or info.
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty"`
	// EventsURL is the Events API v2 endpoint: default
	// https://events.pagerduty.com/v2/enqueue; an account in PagerDuty's EU
	// service region uses https://events.eu.pagerduty.com/v2/enqueue.
	EventsURL string `yaml:"eventsURL,omitempty" json:"eventsURL,omitempty"`
	Route     `yaml:",inline"`
}

// Secret returns where the routing key is read from.
func (t PagerDutyTarget) Secret() SecretRef {
	return SecretRef{Env: t.RoutingKeyEnv, File: t.RoutingKeyFile}
}

// GrafanaTarget is a Grafana whose annotations API receives the events.
type GrafanaTarget struct {
	// URL of Grafana, e.g. https://grafana.smp.vn (no credentials in it).
	URL string `yaml:"url" json:"url"`
	// TokenEnv names the environment variable holding a service account token.
	TokenEnv string `yaml:"tokenEnv,omitempty" json:"tokenEnv,omitempty"`
	// TokenFile is the absolute path of a file holding the token.
	TokenFile string `yaml:"tokenFile,omitempty" json:"tokenFile,omitempty"`
	// DashboardUID ties the annotations to one dashboard; without it they
	// are organization annotations, shown wherever a tag query asks for them.
	DashboardUID string `yaml:"dashboardUID,omitempty" json:"dashboardUID,omitempty"`
	Route        `yaml:",inline"`
}

// Secret returns where the token is read from.
func (t GrafanaTarget) Secret() SecretRef { return SecretRef{Env: t.TokenEnv, File: t.TokenFile} }

// Incidents is where a rollback opens an incident ticket.
type Incidents struct {
	GitHub *GitHubIncidents `yaml:"github,omitempty" json:"github,omitempty"`
}

// GitHubIncidents opens an issue in a GitHub repository for every rollback
// in its environments (default: prod only).
type GitHubIncidents struct {
	// Repository is owner/name, e.g. smp/incidents.
	Repository string `yaml:"repository" json:"repository"`
	// TokenEnv names the environment variable holding a token that may
	// create issues there.
	TokenEnv string `yaml:"tokenEnv,omitempty" json:"tokenEnv,omitempty"`
	// TokenFile is the absolute path of a file holding the token.
	TokenFile string `yaml:"tokenFile,omitempty" json:"tokenFile,omitempty"`
	// APIURL is the REST API's root; default https://api.github.com (set
	// it for GitHub Enterprise Server: https://github.example.com/api/v3).
	APIURL string `yaml:"apiURL,omitempty" json:"apiURL,omitempty"`
	// Labels put on the issue; default incident.
	Labels []string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Environments whose rollbacks open an issue; default prod.
	Environments []string `yaml:"environments,omitempty" json:"environments,omitempty"`
}

// Secret returns where the token is read from.
func (t GitHubIncidents) Secret() SecretRef { return SecretRef{Env: t.TokenEnv, File: t.TokenFile} }

// OpensFor reports whether a rollback in env opens an issue.
func (t GitHubIncidents) OpensFor(env string) bool {
	if len(t.Environments) == 0 {
		return env == "prod"
	}
	return slices.Contains(t.Environments, env)
}

var (
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	repoRE    = regexp.MustCompile(`^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$`)
	// routingKeyRE is a PagerDuty integration key's shape.
	routingKeyRE = regexp.MustCompile(`^[a-z0-9]{32}$`)
	// secretPrefixes start the secrets people paste by mistake: Slack
	// webhook URLs and tokens, GitHub tokens, Grafana service account
	// tokens, an Authorization header.
	secretPrefixes = []string{
		"https://hooks.slack.com/", "http://hooks.slack.com/", "xoxb-", "xoxp-", "xapp-",
		"ghp_", "gho_", "ghs_", "ghu_", "github_pat_", "glsa_", "glc_", "bearer ",
	}
)

// looksLikeSecret reports whether v is probably a secret itself rather
// than the name of one. PagerDuty routing keys are 32 letters and digits,
// which no environment variable name in SCREAMING_CASE is.
func looksLikeSecret(v string) bool {
	l := strings.ToLower(strings.TrimSpace(v))
	for _, p := range secretPrefixes {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return routingKeyRE.MatchString(v)
}

// errSecretInGit is the message for a secret written into delivery.yaml.
func errSecretInGit(where string) error {
	return fmt.Errorf("%s: this looks like a secret itself, and %s is in git: put it in an environment variable or a file and name that here (webhookEnv: SLACK_WEBHOOK_PROD, webhookFile: /run/secrets/slack-webhook), and revoke this one, since git history keeps it", where, FileName)
}

// checkNoSecrets refuses a secret anywhere under notifications before the
// file is decoded, so that a pasted webhook URL is reported as a leaked
// secret (with what to do), not as an unknown field.
func checkNoSecrets(b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fault.Invalidf("parse delivery config: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil // the decoder reports what is wrong with it
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "notifications" {
			return walkSecrets(root.Content[i+1], "notifications")
		}
	}
	return nil
}

func walkSecrets(n *yaml.Node, where string) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if looksLikeSecret(n.Value) {
			return fault.Invalid(errSecretInGit(fmt.Sprintf("%s (line %d)", where, n.Line)))
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := walkSecrets(n.Content[i+1], where+"."+n.Content[i].Value); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := walkSecrets(c, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateNotifications checks notifications against the environments
// (known) and the format version that added them.
func (c *Config) validateNotifications(envs map[string]bool) []error {
	n := c.Notifications
	if n == nil {
		return nil
	}
	var errs []error
	if c.Version < NotificationsVersion {
		errs = append(errs, fmt.Errorf("notifications: added in format version %d, and this file says version: %d: write version: %d at the top of %s, so that an older smpctl reads the repository but does not deploy without sending them", NotificationsVersion, c.Version, NotificationsVersion, FileName))
	}
	route := func(where string, r Route) {
		for _, e := range r.Environments {
			if !envs[e] {
				errs = append(errs, fmt.Errorf("%s.environments: unknown environment %q (environments: %s)", where, e, strings.Join(c.EnvNames(), ", ")))
			}
		}
		for _, k := range r.Events {
			if !slices.Contains(EventKinds, k) {
				errs = append(errs, fmt.Errorf("%s.events: %q is not one of deploy, promote, rollback, hold, gate-failure", where, k))
			}
		}
	}
	for i, t := range n.Slack {
		where := fmt.Sprintf("notifications.slack[%d]", i)
		errs = append(errs, checkSecretRef(where, "webhookEnv", "webhookFile", t.Secret())...)
		route(where, t.Route)
	}
	for i, t := range n.PagerDuty {
		where := fmt.Sprintf("notifications.pagerduty[%d]", i)
		errs = append(errs, checkSecretRef(where, "routingKeyEnv", "routingKeyFile", t.Secret())...)
		switch t.Severity {
		case "", "critical", "error", "warning", "info":
		default:
			errs = append(errs, fmt.Errorf("%s.severity: %q is not one of critical, error, warning, info (PagerDuty's severities)", where, t.Severity))
		}
		if t.EventsURL != "" {
			if err := checkHTTPURL(t.EventsURL); err != nil {
				errs = append(errs, fmt.Errorf("%s.eventsURL: %w", where, err))
			}
		}
		route(where, t.Route)
	}
	if g := n.Grafana; g != nil {
		const where = "notifications.grafana"
		if err := checkHTTPURL(g.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s.url: %w", where, err))
		}
		errs = append(errs, checkSecretRef(where, "tokenEnv", "tokenFile", g.Secret())...)
		route(where, g.Route)
	}
	if in := n.Incidents; in != nil && in.GitHub != nil {
		const where = "notifications.incidents.github"
		g := in.GitHub
		if !repoRE.MatchString(g.Repository) {
			errs = append(errs, fmt.Errorf("%s.repository: %q is not owner/name: write the repository the incident issues go to, e.g. smp/incidents", where, g.Repository))
		}
		if g.APIURL != "" {
			if err := checkHTTPURL(g.APIURL); err != nil {
				errs = append(errs, fmt.Errorf("%s.apiURL: %w", where, err))
			}
		}
		errs = append(errs, checkSecretRef(where, "tokenEnv", "tokenFile", g.Secret())...)
		route(where, Route{Environments: g.Environments})
	}
	if n.CommitURL != "" {
		if err := checkCommitURL(n.CommitURL); err != nil {
			errs = append(errs, fmt.Errorf("notifications.commitURL: %w", err))
		}
	}
	return errs
}

// checkCommitURL checks a link template with {commit} where the hash goes.
// A query is allowed (cgit links a commit as /commit/?id=…); credentials
// are not: the link is posted to Slack and PagerDuty.
func checkCommitURL(s string) error {
	const example = "https://github.com/smp/smp-gitops/commit/{commit}"
	if !strings.Contains(s, "{commit}") {
		return fmt.Errorf("%q has no {commit}: write the page of one commit with {commit} where its hash goes, e.g. %s", s, example)
	}
	u, err := url.Parse(strings.ReplaceAll(s, "{commit}", "0"))
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %w", s, err)
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		return fmt.Errorf("%q is not an http(s) URL with a host, e.g. %s", s, example)
	case u.User != nil:
		return fmt.Errorf("%s://%s: has credentials in it, and %s is in git and the link is posted to every channel: remove them", u.Scheme, u.Host, FileName)
	}
	return nil
}

func checkSecretRef(where, envKey, fileKey string, s SecretRef) []error {
	var errs []error
	switch {
	case s.Env == "" && s.File == "":
		return []error{fmt.Errorf("%s: no secret: set %s (an environment variable's name) or %s (a file's absolute path)", where, envKey, fileKey)}
	case s.Env != "" && s.File != "":
		return []error{fmt.Errorf("%s: both %s and %s are set: keep one, so that which secret is used is never a guess", where, envKey, fileKey)}
	}
	if s.Env != "" {
		switch {
		case looksLikeSecret(s.Env):
			errs = append(errs, errSecretInGit(where+"."+envKey))
		case !envNameRE.MatchString(s.Env):
			errs = append(errs, fmt.Errorf("%s.%s: %q is not an environment variable name: give the name of the variable that holds the secret, e.g. SLACK_WEBHOOK_PROD", where, envKey, s.Env))
		}
	}
	if s.File != "" && !filepath.IsAbs(s.File) {
		errs = append(errs, fmt.Errorf("%s.%s: %q is not an absolute path: give where the secret is mounted, e.g. /run/secrets/slack-webhook", where, fileKey, s.File))
	}
	return errs
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("missing: give the server's address, e.g. https://grafana.smp.vn")
	case err != nil:
		return fmt.Errorf("%q is not a URL: %w", s, err)
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		return fmt.Errorf("%q is not an http(s) URL with a host, e.g. https://grafana.smp.vn", s)
	case u.User != nil:
		return fmt.Errorf("%s://%s: has credentials in it, and %s is in git: remove them, put the token in an environment variable or a file and name it with tokenEnv or tokenFile", u.Scheme, u.Host, FileName)
	case u.RawQuery != "":
		return fmt.Errorf("%s://%s%s: has a query, which is where tokens hide: remove it", u.Scheme, u.Host, u.Path)
	}
	return nil
}
