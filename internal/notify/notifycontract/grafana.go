package notifycontract

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Grafana is the recorded contract of Grafana's annotations API, from
// https://grafana.com/docs/grafana/latest/developer-resources/api-reference/http-api/api-legacy/annotations/#create-annotation:
// POST /api/annotations with a service account token as
// "Authorization: Bearer <token>", and a JSON body of time and timeEnd
// (epoch milliseconds, timeEnd optional and not before time), tags (an
// array of strings), text, and dashboardUID (optional: without it the
// annotation is an organization annotation). It answers 200
// {"message":"Annotation added","id":n}; 401 for a missing or unknown
// token; 400 for a bad body.
type Grafana struct {
	*server
	// Token is the only token the server accepts.
	Token string
}

// GrafanaToken is the token NewGrafana accepts.
const GrafanaToken = "glsa_contractToken0000000000000000_00000000"

// NewGrafana starts an annotations API contract server, closed and checked at t's cleanup.
func NewGrafana(t testing.TB) *Grafana {
	g := &Grafana{Token: GrafanaToken}
	g.server = newServer(t, "grafana", g.check,
		Answer{Status: http.StatusBadRequest, Body: `{"message":"bad request data"}`},
		Answer{Status: http.StatusOK, Body: `{"message":"Annotation added","id":1}`})
	g.auth = func(r *http.Request) (Answer, bool) {
		return GrafanaUnauthorized, r.Header.Get("Authorization") != "Bearer "+g.Token
	}
	return g
}

// GrafanaUnauthorized is the answer to a token Grafana does not know.
var GrafanaUnauthorized = Answer{Status: http.StatusUnauthorized, Body: `{"message":"Invalid API key"}`}

// 2001-09-09 in milliseconds: a time below it was given in seconds.
const minMillis = 1_000_000_000_000

func (g *Grafana) check(r *http.Request, m map[string]any) []string {
	var errs []string
	if r.Method != http.MethodPost || r.URL.Path != "/api/annotations" {
		errs = append(errs, fmt.Sprintf("%s %s, want POST /api/annotations", r.Method, r.URL.Path))
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		errs = append(errs, "Authorization: want Bearer and the service account token")
	}
	t, ok := m["time"].(float64)
	if !ok || t < minMillis || t != float64(int64(t)) {
		errs = append(errs, fmt.Sprintf("time %v: want epoch milliseconds", m["time"]))
	}
	if te, ok := m["timeEnd"]; ok {
		if v, _ := te.(float64); v < t {
			errs = append(errs, "timeEnd: want epoch milliseconds, not before time")
		}
	}
	tags, ok := m["tags"].([]any)
	if !ok {
		errs = append(errs, "tags: want an array of strings")
	}
	for i, tag := range tags {
		if s, _ := tag.(string); s == "" {
			errs = append(errs, fmt.Sprintf("tags[%d]: want a non-empty string", i))
		}
	}
	if _, ok := str(m, "text"); !ok {
		errs = append(errs, "text: required")
	}
	if d, ok := m["dashboardUID"]; ok {
		if s, _ := d.(string); s == "" {
			errs = append(errs, "dashboardUID: a string when given")
		}
	}
	return errs
}
