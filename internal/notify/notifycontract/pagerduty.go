package notifycontract

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// PagerDuty is the recorded contract of the PagerDuty Events API v2, from
// https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and
// https://developer.pagerduty.com/api-reference/368ae3d938c9e-send-an-event-to-pager-duty:
// POST /v2/enqueue with routing_key (32 characters), event_action (trigger,
// acknowledge or resolve) and, for trigger, payload.summary (at most 1024
// characters), payload.source and payload.severity (critical, error,
// warning or info); dedup_key at most 255 characters; timestamp ISO 8601.
// It answers 202 {status, message, dedup_key}; an invalid event 400
// {status: "invalid event", message, errors}; 429 when throttled.
type PagerDuty struct {
	*server
	// RoutingKey is the integration key the server accepts.
	RoutingKey string
}

// PagerDutyRoutingKey is the routing key NewPagerDuty accepts.
const PagerDutyRoutingKey = "r0ut1ngk3y0000000000000000000smp"

// Answers the real API gives.
var (
	PagerDutyThrottled = Answer{Status: http.StatusTooManyRequests, Body: `{"status":"throttle event","message":"Requests for this service are arriving too quickly. Please retry later."}`}
	PagerDutyDown      = Answer{Status: http.StatusServiceUnavailable, Body: `{"status":"unavailable","message":"Service unavailable"}`}
)

// NewPagerDuty starts an Events API v2 contract server, closed and checked at t's cleanup.
func NewPagerDuty(t testing.TB) *PagerDuty {
	p := &PagerDuty{RoutingKey: PagerDutyRoutingKey}
	p.server = newServer(t, "pagerduty", p.check,
		Answer{Status: http.StatusBadRequest, Body: `{"status":"invalid event","message":"Event object is invalid","errors":["see the contract violation"]}`},
		Answer{Status: http.StatusAccepted, Body: `{"status":"success","message":"Event processed","dedup_key":"recorded"}`})
	return p
}

// EnqueueURL is the endpoint to post to.
func (p *PagerDuty) EnqueueURL() string { return p.URL + "/v2/enqueue" }

func (p *PagerDuty) check(r *http.Request, m map[string]any) []string {
	var errs []string
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		errs = append(errs, fmt.Sprintf("%s %s, want POST /v2/enqueue", r.Method, r.URL.Path))
	}
	if k, _ := str(m, "routing_key"); len(k) != 32 {
		errs = append(errs, "routing_key: want the 32-character integration key")
	}
	action, _ := str(m, "event_action")
	if !oneOf(action, "trigger", "acknowledge", "resolve") {
		errs = append(errs, fmt.Sprintf("event_action %q: want trigger, acknowledge or resolve", action))
	}
	if d, ok := m["dedup_key"]; ok {
		if s, _ := d.(string); s == "" || len(s) > 255 {
			errs = append(errs, "dedup_key: want 1 to 255 characters")
		}
	}
	if action != "trigger" {
		return errs
	}
	pl, _ := m["payload"].(map[string]any)
	if s, ok := str(pl, "summary"); !ok || len([]rune(s)) > 1024 {
		errs = append(errs, "payload.summary: want 1 to 1024 characters")
	}
	if _, ok := str(pl, "source"); !ok {
		errs = append(errs, "payload.source: required")
	}
	if sev, _ := str(pl, "severity"); !oneOf(sev, "critical", "error", "warning", "info") {
		errs = append(errs, fmt.Sprintf("payload.severity %q: want critical, error, warning or info", sev))
	}
	if ts, ok := pl["timestamp"]; ok {
		s, _ := ts.(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			errs = append(errs, "payload.timestamp: want ISO 8601: "+err.Error())
		}
	}
	if links, ok := m["links"].([]any); ok {
		for i, l := range links {
			lm, _ := l.(map[string]any)
			if _, ok := str(lm, "href"); !ok {
				errs = append(errs, fmt.Sprintf("links[%d].href: required", i))
			}
		}
	}
	return errs
}
