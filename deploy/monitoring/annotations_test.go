package monitoring_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/notify"
)

// annotationList is Grafana's annotation list panel type.
const annotationList = "annolist"

// timelineDashboard is what the tag-matching test reads of the dashboard.
type timelineDashboard struct {
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Regex      string `json:"regex"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string `json:"name"`
			Datasource struct {
				Type string `json:"type"`
			} `json:"datasource"`
			Target struct {
				Type     string   `json:"type"`
				Tags     []string `json:"tags"`
				MatchAny bool     `json:"matchAny"`
			} `json:"target"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Options struct {
			OnlyFromThisDashboard bool     `json:"onlyFromThisDashboard"`
			Tags                  []string `json:"tags"`
		} `json:"options"`
	} `json:"panels"`
}

// matches is Grafana's tag filter without matchAny: an annotation is
// shown when it carries every tag of the query, after the dashboard's
// variables are replaced.
func matches(query []string, vars map[string]string, tags []string) bool {
	for _, q := range query {
		for name, v := range vars {
			q = strings.ReplaceAll(q, "$"+name, v)
		}
		if !slices.Contains(tags, q) {
			return false
		}
	}
	return true
}

// The annotations notify's Grafana sender posts are organization
// annotations (no dashboardUID by default) found by their tags: if the
// dashboard's tags drift from the sender's, the panel is silently empty.
// This reads both from the code and the JSON that ship.
func TestDeployTimelineListsTheAnnotationsSmpctlPosts(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("dashboards/deploy-timeline.json")
	if err != nil {
		t.Fatal(err)
	}
	var d timelineDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}

	// $env is the chosen namespace (smp-<env>) without its prefix, the
	// environment's name as smpctl tags it.
	vars := map[string]string{"service": "order-svc"}
	for _, v := range d.Templating.List {
		if v.Name != "env" {
			continue
		}
		if !strings.Contains(v.Definition, `namespace="$namespace"`) {
			t.Errorf("variable env is %q: it must follow the chosen namespace", v.Definition)
		}
		re, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(v.Regex, "/"), "/"))
		if err != nil {
			t.Fatalf("variable env's regex %q: %v", v.Regex, err)
		}
		if m := re.FindStringSubmatch("smp-prod"); len(m) == 2 {
			vars["env"] = m[1]
		}
	}
	if vars["env"] != "prod" {
		t.Fatalf("variable env turns namespace smp-prod into %q, want prod", vars["env"])
	}

	var panelTags []string
	for _, p := range d.Panels {
		if p.Type == annotationList && p.Title == "Deploy timeline" {
			if p.Options.OnlyFromThisDashboard {
				t.Error("the Deploy timeline panel lists only this dashboard's annotations; smpctl posts organization annotations (no dashboardUID)")
			}
			panelTags = p.Options.Tags
		}
	}
	if panelTags == nil {
		t.Fatal(`no annotation list panel titled "Deploy timeline" with tags`)
	}
	var queryTags []string
	for _, a := range d.Annotations.List {
		if a.Datasource.Type != "grafana" {
			continue
		}
		if a.Target.Type != "tags" || a.Target.MatchAny {
			t.Errorf("annotation %q: type %q, matchAny %v; want a tags query matching all its tags", a.Name, a.Target.Type, a.Target.MatchAny)
		}
		queryTags = a.Target.Tags
	}
	if queryTags == nil {
		t.Fatal("no Grafana annotation query overlays smpctl's annotations on the graphs")
	}
	if !slices.Contains(panelTags, notify.AnnotationTag) || !slices.Contains(queryTags, notify.AnnotationTag) {
		t.Errorf("the panel (%v) and the query (%v) must select the tag every smpctl annotation has, %s", panelTags, queryTags, notify.AnnotationTag)
	}

	at := time.Date(2026, 12, 4, 2, 10, 0, 0, time.UTC)
	for _, kind := range delivery.EventKinds {
		ev := notify.Event{Kind: kind, Env: "prod", Service: "order-svc", Version: "3.3.1", Digest: "sha256:" + strings.Repeat("a", 64), By: "oncall", Time: at}
		tags := notify.GrafanaAnnotationFor(ev, "").Tags
		for what, q := range map[string][]string{"panel": panelTags, "annotation query": queryTags} {
			if !matches(q, vars, tags) {
				t.Errorf("the %s's tags %v do not select the %s annotation the sender posts for order-svc in prod (tags %v)", what, q, kind, tags)
			}
			for _, other := range []notify.Event{{Kind: kind, Env: "staging", Service: "order-svc", Time: at}, {Kind: kind, Env: "prod", Service: "partner-svc", Time: at}} {
				if tags := notify.GrafanaAnnotationFor(other, "").Tags; matches(q, vars, tags) {
					t.Errorf("the %s's tags %v select %s's %s in %s (tags %v) on order-svc's prod timeline", what, q, other.Service, kind, other.Env, tags)
				}
			}
		}
	}
}
