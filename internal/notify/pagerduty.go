package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// PagerDuty triggers alerts through the Events API v2
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).
type PagerDuty struct {
	// Label is the sender's name in reports; default "pagerduty".
	Label string
	// URL is the endpoint; default PagerDutyURL.
	URL string
	// RoutingKey is the integration's secret key; KeyFrom says where it
	// was read from, for the hints.
	RoutingKey, KeyFrom string
	// Severity: critical (default), error, warning or info.
	Severity string
	Client   *http.Client
}

var _ Sender = (*PagerDuty)(nil)

// Name implements Sender.
func (p *PagerDuty) Name() string {
	if p.Label == "" {
		return "pagerduty"
	}
	return p.Label
}

// PagerDutyEvent is an Events API v2 event.
type PagerDutyEvent struct {
	RoutingKey  string           `json:"routing_key"`
	EventAction string           `json:"event_action"`
	DedupKey    string           `json:"dedup_key,omitempty"`
	Payload     PagerDutyPayload `json:"payload"`
	Links       []PagerDutyLink  `json:"links,omitempty"`
}

// PagerDutyPayload is the event's payload; summary, source and severity
// are required.
type PagerDutyPayload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"`
	Timestamp     string            `json:"timestamp,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

// PagerDutyLink is a link shown on the alert.
type PagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// summaryLimit is the Events API's limit on payload.summary.
const summaryLimit = 1024

// PagerDutyEventFor renders e as a trigger. Its dedup_key is the event's
// environment, service, digest and kind, so a retried or repeated send of
// the same failure updates one alert instead of paging twice.
func PagerDutyEventFor(e Event, routingKey, severity string) PagerDutyEvent {
	if severity == "" {
		severity = "critical"
	}
	details := map[string]string{"environment": e.Env, "service": e.Service}
	add := func(k, v string) {
		if v != "" {
			details[k] = v
		}
	}
	add("version", e.Version)
	add("digest", e.Digest)
	add("previous_digest", e.PreviousDigest)
	add("by", e.By)
	add("approved_by", e.ApprovedBy)
	add("reason", e.Reason)
	add("incident", e.IncidentURL)
	if e.Gate != nil {
		details["gate"] = e.Gate.String()
	}
	var links []PagerDutyLink
	if e.RunURL != "" {
		links = append(links, PagerDutyLink{Href: e.RunURL, Text: "CI run"})
	}
	if e.DiffURL != "" {
		links = append(links, PagerDutyLink{Href: e.DiffURL, Text: "diff"})
	}
	if e.IncidentURL != "" {
		links = append(links, PagerDutyLink{Href: e.IncidentURL, Text: "incident"})
	}
	return PagerDutyEvent{
		RoutingKey:  routingKey,
		EventAction: "trigger",
		DedupKey:    truncate(strings.Join([]string{"smp", e.Env, e.Service, short(e.Digest), string(e.Kind)}, "/"), 255),
		Payload: PagerDutyPayload{
			Summary:       truncate(headlinePlain(e), summaryLimit),
			Source:        "smpctl/" + e.Env + "/" + e.Service,
			Severity:      severity,
			Timestamp:     e.Time.UTC().Format(time.RFC3339),
			Component:     e.Service,
			Group:         e.Env,
			Class:         string(e.Kind),
			CustomDetails: details,
		},
		Links: links,
	}
}

// headlinePlain is the headline without Slack's emoji codes.
func headlinePlain(e Event) string {
	h := headline(e, false)
	if strings.HasPrefix(h, ":") {
		if j := strings.Index(h[1:], ":"); j >= 0 { // the emoji's closing colon
			h = strings.TrimSpace(h[j+2:])
		}
	}
	if e.Gate != nil {
		h += ": " + e.Gate.String()
	}
	return h
}

// Send implements Sender.
func (p *PagerDuty) Send(ctx context.Context, e Event) (string, error) {
	u := p.URL
	if u == "" {
		u = PagerDutyURL
	}
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	a, err := postJSON(ctx, c, p.Name(), u, nil, PagerDutyEventFor(e, p.RoutingKey, p.Severity))
	if err != nil {
		return "", err
	}
	if a.status == http.StatusAccepted {
		return "", nil
	}
	// Error answers are {status, message, errors[]}.
	var body struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	_ = json.Unmarshal(a.body, &body)
	code := strings.TrimSpace(strings.Join(append([]string{body.Message}, body.Errors...), "; "))
	code = strings.Trim(code, "; ")
	hint := ""
	switch a.status {
	case http.StatusBadRequest:
		hint = fmt.Sprintf("PagerDuty refused the event; if it names the routing key, the key in %s is wrong: copy the Integration Key of the service's Events API v2 integration into it", p.KeyFrom)
	case http.StatusTooManyRequests:
		hint = "PagerDuty is rate limiting this integration; smpctl retried, the gate failure is also in Slack and in the CI run"
	}
	return "", statusError(p.Name(), a, truncate(code, 300), hint)
}
