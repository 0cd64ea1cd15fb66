package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Grafana adds annotations through Grafana's HTTP API
// (https://grafana.com/docs/grafana/latest/developer-resources/api-reference/http-api/api-legacy/annotations/#create-annotation).
// Without a DashboardUID they are organization annotations, which the
// "Deploy timeline" dashboard shows through a tag query (smp-delivery and
// service:<name>), so every service gets its deploys overlaid whether or
// not it exports build_info.
type Grafana struct {
	// URL is Grafana's root, e.g. https://grafana.smp.vn.
	URL string
	// Token is a service account token allowed to write annotations;
	// TokenFrom says where it was read from, for the hints.
	Token, TokenFrom string
	// DashboardUID ties annotations to one dashboard, if set.
	DashboardUID string
	Client       *http.Client
}

var _ Sender = (*Grafana)(nil)

// Name implements Sender.
func (g *Grafana) Name() string { return "grafana" }

// GrafanaAnnotation is the body of POST /api/annotations. Time is epoch
// milliseconds; an annotation without TimeEnd marks a point in time.
type GrafanaAnnotation struct {
	DashboardUID string   `json:"dashboardUID,omitempty"`
	Time         int64    `json:"time"`
	TimeEnd      int64    `json:"timeEnd,omitempty"`
	Tags         []string `json:"tags"`
	Text         string   `json:"text"`
}

// AnnotationTag is on every annotation smpctl makes; the dashboard's
// annotation query selects on it and on "service:<name>".
const AnnotationTag = "smp-delivery"

// GrafanaAnnotationFor renders e as an annotation.
func GrafanaAnnotationFor(e Event, dashboardUID string) GrafanaAnnotation {
	tags := []string{AnnotationTag, "service:" + e.Service, "env:" + e.Env, "event:" + string(e.Kind)}
	if e.Version != "" {
		tags = append(tags, "version:"+e.Version)
	}
	text := headlinePlain(e)
	if e.Digest != "" {
		text += " (" + short(e.Digest) + ")"
	}
	if e.By != "" {
		text += " by " + e.By
	}
	if e.DiffURL != "" {
		text += fmt.Sprintf(` <a href="%s">diff</a>`, e.DiffURL)
	}
	if e.RunURL != "" {
		text += fmt.Sprintf(` <a href="%s">CI run</a>`, e.RunURL)
	}
	return GrafanaAnnotation{DashboardUID: dashboardUID, Time: e.Time.UnixMilli(), Tags: tags, Text: text}
}

// Send implements Sender.
func (g *Grafana) Send(ctx context.Context, e Event) (string, error) {
	c := g.Client
	if c == nil {
		c = http.DefaultClient
	}
	u := strings.TrimSuffix(g.URL, "/") + "/api/annotations"
	a, err := postJSON(ctx, c, g.Name(), u, map[string]string{
		"Authorization": "Bearer " + g.Token,
		"Accept":        "application/json",
	}, GrafanaAnnotationFor(e, g.DashboardUID))
	if err != nil {
		return "", err
	}
	if a.status == http.StatusOK {
		return "", nil
	}
	var body struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(a.body, &body)
	hint := ""
	switch a.status {
	case http.StatusUnauthorized:
		hint = fmt.Sprintf("the token in %s is not valid (expired or deleted); create a service account token in Grafana and put it in %s", g.TokenFrom, g.TokenFrom)
	case http.StatusForbidden:
		hint = "the token's service account may not write annotations; give it the Editor role (or annotations:write) in Grafana"
	case http.StatusNotFound:
		hint = fmt.Sprintf("no annotations API at %s: check notifications.grafana.url (Grafana's root URL) and dashboardUID in delivery.yaml", g.URL)
	}
	return "", statusError(g.Name(), a, truncate(body.Message, 200), hint)
}
