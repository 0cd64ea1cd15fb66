package monitoring_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/smp/delivery/internal/testkit/kubeschema"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// serviceMetrics are the metrics every SMP service exports on /metrics (the order-svc
// contract: http_requests_total{method,route,code}, the histogram
// http_request_duration_seconds{method,route}, build_info{version,commit}), with the series
// names a histogram really produces.
var serviceMetrics = []string{
	"http_requests_total",
	"http_request_duration_seconds_bucket",
	"http_request_duration_seconds_sum",
	"http_request_duration_seconds_count",
	"build_info",
}

// kubeStateMetrics are the kube-state-metrics series the rules may use besides the service's.
var kubeStateMetrics = []string{"kube_pod_container_status_waiting_reason"}

// tool returns the path of a command the test needs, failing (never skipping) without it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found on PATH: install it with scripts/tools.sh (Debian package %s)", name, pkg)
	}
	return p
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(testctx.New(t), name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

type rule struct {
	Alert  string            `json:"alert"`
	Record string            `json:"record"`
	Expr   string            `json:"expr"`
	For    string            `json:"for"`
	Labels map[string]string `json:"labels"`
}

type prometheusRule struct {
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

func readRule(t *testing.T) ([]byte, prometheusRule) {
	t.Helper()
	data, err := os.ReadFile("prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pr prometheusRule
	if err := yaml.Unmarshal(data, &pr); err != nil {
		t.Fatal(err)
	}
	return data, pr
}

func TestPrometheusRuleMatchesTheOperatorsCRD(t *testing.T) {
	t.Parallel()
	data, _ := readRule(t)
	if err := kubeschema.Validate(testctx.New(t), data); err != nil {
		t.Fatal(err)
	}
}

// The PrometheusRule is the only copy of the rules: its spec is written out as the plain
// rules file promtool reads, next to rules_test.yaml.
func TestRulesPassPromtoolCheckAndUnitTests(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "promtool", "prometheus")
	data, _ := readRule(t)
	var doc struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	rules, err := yaml.JSONToYAML(doc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range ruleTests {
		tests, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), tests, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := run(t, dir, promtool, "check", "rules", "rules.yaml")
	if !strings.Contains(out, "SUCCESS: 3 rules found") {
		t.Errorf("promtool check rules: want 3 rules:\n%s", out)
	}
	run(t, dir, promtool, append([]string{"test", "rules"}, ruleTests...)...)
}

// ruleTests are promtool's unit test files; they read rules.yaml from their own directory.
var ruleTests = []string{"rules_test.yaml", "rules_latency_test.yaml"}

func TestRuleTestsCoverEveryAlertFiringAndNotFiring(t *testing.T) {
	t.Parallel()
	_, pr := readRule(t)
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, f := range ruleTests {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tests struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string `json:"alertname"`
					ExpAlerts []any  `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		if err := yaml.Unmarshal(data, &tests); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					silent[a.Alertname] = true
				}
			}
		}
	}
	n := 0
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] || !silent[r.Alert] {
				t.Errorf("%s: the promtool tests must show it firing and not firing (fires=%v, silent=%v)", r.Alert, fires[r.Alert], silent[r.Alert])
			}
		}
	}
	if n != 3 {
		t.Errorf("want the seed's 3 alerts, found %d", n)
	}
}

// Each alert reaches the receiver the seed names: errors and latency page (PagerDuty) in
// prod, crash loops go to Slack; outside prod nothing pages.
func TestAlertsRouteToTheSeedsReceivers(t *testing.T) {
	t.Parallel()
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	out := run(t, ".", amtool, "check-config", "alertmanager.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool check-config:\n%s", out)
	}
	_, pr := readRule(t)
	want := map[string]map[string]string{
		"smp-prod": {
			"ServiceErrorRateHigh":           "pagerduty-prod,slack-prod-alerts",
			"ServiceLatencyP95AboveBaseline": "pagerduty-prod,slack-prod-alerts",
			"ServicePodCrashLooping":         "slack-prod-alerts",
		},
		"smp-staging": {
			"ServiceErrorRateHigh":           "slack-deploys",
			"ServiceLatencyP95AboveBaseline": "slack-deploys",
			"ServicePodCrashLooping":         "slack-deploys",
		},
	}
	for ns, byAlert := range want {
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				exp, ok := byAlert[r.Alert]
				if !ok {
					t.Errorf("%s: no expected route in this test", r.Alert)
					continue
				}
				args := []string{"config", "routes", "test", "--config.file=alertmanager.yaml", "--verify.receivers=" + exp,
					"alertname=" + r.Alert, "namespace=" + ns, "job=order-svc"}
				for k, v := range r.Labels {
					args = append(args, k+"="+v)
				}
				got, err := exec.CommandContext(testctx.New(t), amtool, args...).Output()
				if err != nil {
					t.Errorf("%s in %s: routed to %q, want %q (%v)", r.Alert, ns, strings.TrimSpace(string(got)), exp, err)
				}
			}
		}
	}
}

// metricNames parses a PromQL expression (Grafana variables replaced) and returns the
// metric names of its selectors.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	r := strings.NewReplacer("$__rate_interval", "5m", "${datasource}", "prom", "$namespace", "smp-prod", "$service", "order-svc")
	e, err := parser.ParseExpr(r.Replace(expr))
	if err != nil {
		t.Errorf("query does not parse: %v\n%s", err, expr)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

func TestDeployTimelineQueriesNameMetricsTheServiceExports(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("dashboards/deploy-timeline.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Annotations struct {
			List []struct {
				Name       string `json:"name"`
				Expr       string `json:"expr"`
				Datasource struct {
					Type string `json:"type"`
				} `json:"datasource"`
			} `json:"list"`
		} `json:"annotations"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.Title != "Deploy timeline" {
		t.Errorf("title %q, want Deploy timeline", d.Title)
	}
	check := func(where, expr string) []string {
		names := metricNames(t, expr)
		if len(names) == 0 {
			t.Errorf("%s: query names no metric: %s", where, expr)
		}
		for _, n := range names {
			if !slices.Contains(serviceMetrics, n) {
				t.Errorf("%s: %s is not a metric the service exports (%v)", where, n, serviceMetrics)
			}
		}
		return names
	}
	used := map[string]bool{}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	for _, p := range d.Panels {
		if p.Type == annotationList {
			continue // no PromQL: TestDeployTimelineListsTheAnnotationsSmpctlPosts checks its tags
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, n := range check("panel "+p.Title, tg.Expr) {
				used[n] = true
			}
		}
	}
	deploys := false
	for _, a := range d.Annotations.List {
		if a.Datasource.Type == "grafana" {
			continue // a tag query over smpctl's annotations, not PromQL
		}
		names := check("annotation "+a.Name, a.Expr)
		deploys = deploys || slices.Contains(names, "build_info")
	}
	if !deploys {
		t.Error("no deploy annotation from build_info")
	}
	// Request rate, error rate and p95 need these two.
	for _, n := range []string{"http_requests_total", "http_request_duration_seconds_bucket"} {
		if !used[n] {
			t.Errorf("no panel queries %s", n)
		}
	}
}

func TestRuleExpressionsUseOnlyExportedMetrics(t *testing.T) {
	t.Parallel()
	_, pr := readRule(t)
	known := append(append([]string(nil), serviceMetrics...), kubeStateMetrics...)
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			for _, n := range metricNames(t, r.Expr) {
				if !slices.Contains(known, n) {
					t.Errorf("%s: %s is neither a service metric nor a kube-state-metrics one", r.Alert, n)
				}
			}
		}
	}
}
