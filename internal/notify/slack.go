package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Slack posts Block Kit messages to a Slack incoming webhook
// (https://api.slack.com/messaging/webhooks).
type Slack struct {
	// Label is the sender's name in reports; default "slack".
	Label string
	// WebhookURL is the secret webhook URL.
	WebhookURL string
	// WebhookFrom says where the URL was read from, for the hints
	// ("environment variable SLACK_WEBHOOK_PROD").
	WebhookFrom string
	Client      *http.Client
}

var _ Sender = (*Slack)(nil)

// Name implements Sender.
func (s *Slack) Name() string {
	if s.Label == "" {
		return "slack"
	}
	return s.Label
}

// sectionTextLimit is Block Kit's limit on a section's text
// (https://api.slack.com/reference/block-kit/blocks#section).
const sectionTextLimit = 3000

// SlackMessage is the webhook's payload: text is the notification's
// fallback, blocks what the channel shows.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is a section (Text) or a context (Elements) block.
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a mrkdwn text object.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Send implements Sender.
func (s *Slack) Send(ctx context.Context, e Event) (string, error) {
	a, err := postJSON(ctx, s.client(), s.Name(), s.WebhookURL, nil, SlackMessageFor(e))
	if err != nil {
		return "", err
	}
	body := strings.TrimSpace(string(a.body))
	if a.status == http.StatusOK {
		return "", nil
	}
	code := body
	if len(code) > 64 || strings.ContainsAny(code, " \n<{") {
		code = "" // an HTML page or a JSON body, not one of Slack's error codes
	}
	return "", statusError(s.Name(), a, code, s.hint(code, a.status))
}

// hint says what to do about one of the errors Slack documents for
// incoming webhooks (https://api.slack.com/messaging/webhooks#handling_errors).
func (s *Slack) hint(code string, status int) string {
	from := s.WebhookFrom
	if from == "" {
		from = "the webhook secret"
	}
	switch code {
	case "no_service", "no_service_id", "no_team", "team_disabled", "invalid_token":
		return fmt.Sprintf("the webhook URL in %s was revoked or its app removed; create a new incoming webhook for the channel and put its URL in %s", from, from)
	case "channel_not_found", "channel_is_archived":
		return fmt.Sprintf("the webhook's channel is gone or archived; create an incoming webhook for a live channel and put its URL in %s", from)
	case "action_prohibited", "posting_to_general_channel_denied":
		return "the workspace does not let this app post there; ask a Slack admin, or create a webhook for another channel"
	case "invalid_payload", "no_text", "too_many_attachments":
		return "Slack refused the message itself; this is a bug in smpctl, report it with this line"
	}
	if status == http.StatusNotFound || status == http.StatusForbidden {
		return fmt.Sprintf("check the webhook URL in %s; create a new incoming webhook if it was revoked", from)
	}
	return ""
}

func (s *Slack) client() *http.Client {
	if s.Client == nil {
		return http.DefaultClient
	}
	return s.Client
}

// SlackMessageFor renders e as a Block Kit message: a section with what
// happened and its figures, and a context block with the links (diff, CI
// run, incident).
func SlackMessageFor(e Event) SlackMessage {
	head := headline(e, true)
	var lines []string
	lines = append(lines, head)
	if e.Digest != "" {
		d := fmt.Sprintf("Digest `%s`", short(e.Digest))
		if e.PreviousDigest != "" {
			d += fmt.Sprintf(" (was `%s`)", short(e.PreviousDigest))
		}
		lines = append(lines, d)
	}
	if e.By != "" || e.ApprovedBy != "" {
		who := "By " + esc(orNone(e.By))
		if e.ApprovedBy != "" {
			who += ", approved by " + esc(e.ApprovedBy)
		}
		lines = append(lines, who)
	}
	if e.Reason != "" {
		lines = append(lines, "Reason: "+esc(e.Reason))
	}
	if e.Gate != nil {
		lines = append(lines, "Gate: "+esc(e.Gate.String()))
	}
	if e.IncidentURL != "" {
		lines = append(lines, fmt.Sprintf("Incident: <%s|%s> (post-mortem due %s)", e.IncidentURL, esc(e.IncidentURL), e.Time.Add(PostMortemDue).UTC().Format("Mon 2 Jan 15:04 MST")))
	}
	var links []string
	if e.DiffURL != "" {
		links = append(links, fmt.Sprintf("<%s|diff>", e.DiffURL))
	}
	if e.RunURL != "" {
		links = append(links, fmt.Sprintf("<%s|CI run>", e.RunURL))
	}
	links = append(links, e.Time.UTC().Format("2006-01-02 15:04:05 MST"))
	return SlackMessage{
		Text: headline(e, false),
		Blocks: []SlackBlock{
			{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: truncate(strings.Join(lines, "\n"), sectionTextLimit)}},
			{Type: "context", Elements: []SlackText{{Type: "mrkdwn", Text: truncate(strings.Join(links, " · "), sectionTextLimit)}}},
		},
	}
}

// headline says what happened in one line; mrkdwn adds emphasis.
func headline(e Event, mrkdwn bool) string {
	b := func(s string) string {
		if mrkdwn {
			return "*" + esc(s) + "*"
		}
		return s
	}
	svc, env, v := b(e.Service), b(e.Env), b(orNone(e.Version))
	switch e.Kind {
	case Deploy:
		return fmt.Sprintf(":rocket: Deploy: %s %s to %s", svc, v, env)
	case Promote:
		return fmt.Sprintf(":arrow_up: Promote: %s %s to %s", svc, v, env)
	case Rollback:
		s := fmt.Sprintf(":rewind: Rollback in %s: %s back to %s", env, svc, v)
		if e.PreviousVersion != "" {
			s += " from " + b(e.PreviousVersion)
		}
		return s
	case Hold:
		return fmt.Sprintf(":no_entry: Hold: deploys of %s to %s are held", svc, env)
	case GateFailure:
		return fmt.Sprintf(":rotating_light: Gate failed: %s %s in %s", svc, v, env)
	}
	return fmt.Sprintf("%s: %s %s in %s", e.Kind, svc, v, env)
}

// esc escapes the three characters Slack's mrkdwn reserves
// (https://api.slack.com/reference/surfaces/formatting#escaping).
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
