package notifycontract

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// recorder is a testing.TB whose errors and cleanups the test keeps, so a
// contract's verdict on a broken request can be read instead of failing.
type recorder struct {
	testing.TB
	errors   []string
	cleanups []func()
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func post(t *testing.T, url string, headers map[string]string, body string) (int, string) {
	t.Helper()
	return request(t, http.MethodPost, url, headers, strings.NewReader(body))
}

// request sends a request with the headers given (and a JSON
// Content-Type when it has a body) and returns the answer.
func request(t *testing.T, method, url string, headers map[string]string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTheContractsRefuseWhatTheServicesRefuse sends each contract a
// request its service documents as wrong: the answer is the service's,
// and the violation is reported.
func TestTheContractsRefuseWhatTheServicesRefuse(t *testing.T) {
	t.Parallel()
	ghHeaders := map[string]string{"Authorization": "Bearer t", "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "test"}
	section := func(text string) string {
		return fmt.Sprintf(`{"text":"x","blocks":[{"type":"section","text":{"type":"mrkdwn","text":%q}}]}`, text)
	}
	tests := []struct {
		name      string
		url       func(r *recorder) string
		headers   map[string]string
		body      string
		status    int
		violation string
	}{
		{"a Slack section over 3000 characters", func(r *recorder) string { return NewSlack(r).WebhookURL() }, nil,
			section(strings.Repeat("a", 3001)), 400, "blocks[0].text.text: 3001 characters, more than 3000"},
		{"a Slack message without blocks", func(r *recorder) string { return NewSlack(r).WebhookURL() }, nil,
			`{"text":"x"}`, 400, "blocks: want an array of 1 to 50 blocks"},
		{"unescaped mrkdwn", func(r *recorder) string { return NewSlack(r).WebhookURL() }, nil,
			section("a <b> c"), 400, "an unescaped <"},
		{"a PagerDuty severity outside the enum", func(r *recorder) string { return NewPagerDuty(r).EnqueueURL() }, nil,
			`{"routing_key":"` + PagerDutyRoutingKey + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"high"}}`, 400, `payload.severity "high"`},
		{"a PagerDuty trigger without a summary", func(r *recorder) string { return NewPagerDuty(r).EnqueueURL() }, nil,
			`{"routing_key":"` + PagerDutyRoutingKey + `","event_action":"trigger","payload":{"source":"x","severity":"info"}}`, 400, "payload.summary"},
		{"a Grafana time in seconds", func(r *recorder) string { return NewGrafana(r).URL + "/api/annotations" }, map[string]string{"Authorization": "Bearer " + GrafanaToken},
			`{"time":1764844200,"tags":["a"],"text":"t"}`, 400, "want epoch milliseconds"},
		{"a Grafana request without the token", func(r *recorder) string { return NewGrafana(r).URL + "/api/annotations" }, nil,
			`{"time":1764844200000,"tags":["a"],"text":"t"}`, 401, "Authorization"},
		{"a GitHub issue without a title", func(r *recorder) string { return NewGitHub(r).APIURL() + "/repos/smp/incidents/issues" }, ghHeaders,
			`{"body":"b"}`, 422, "title: required"},
		{"a GitHub request without the API version", func(r *recorder) string { return NewGitHub(r).APIURL() + "/repos/smp/incidents/issues" }, map[string]string{"Authorization": "Bearer t", "Accept": "application/vnd.github+json"},
			`{"title":"t"}`, 422, "X-GitHub-Api-Version"},
		{"a GitHub request without a token", func(r *recorder) string { return NewGitHub(r).APIURL() + "/repos/smp/incidents/issues" }, map[string]string{"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
			`{"title":"t"}`, 401, "Authorization: want Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{TB: t}
			status, _ := post(t, tc.url(r), tc.headers, tc.body)
			r.finish()
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if len(r.errors) != 1 || !strings.Contains(r.errors[0], tc.violation) {
				t.Errorf("violations reported: %q, want one mentioning %q", r.errors, tc.violation)
			}
		})
	}
}

func TestAnUnknownGrafanaTokenIsRefusedAsGrafanaDoes(t *testing.T) {
	t.Parallel()
	g := NewGrafana(t)
	status, body := post(t, g.URL+"/api/annotations", map[string]string{"Authorization": "Bearer glsa_revoked"}, `{"time":1764844200000,"tags":["a"],"text":"t"}`)
	if status != http.StatusUnauthorized || !strings.Contains(body, "Invalid API key") {
		t.Errorf("answer %d %s, want 401 Invalid API key", status, body)
	}
}

func TestAGitHubIssueIsAnsweredAsGitHubDoes(t *testing.T) {
	t.Parallel()
	g := NewGitHub(t)
	h := map[string]string{"Authorization": "Bearer t", "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "test"}
	for n := 1; n <= 2; n++ {
		status, body := post(t, g.APIURL()+"/repos/smp/incidents/issues", h, `{"title":"t","labels":["incident"]}`)
		want := fmt.Sprintf(`"html_url":"https://github.com/smp/incidents/issues/%d"`, n)
		if status != http.StatusCreated || !strings.Contains(body, want) {
			t.Errorf("issue %d: %d %s", n, status, body)
		}
	}
}

// TestGitHubListsTheIssuesItOpened: the list endpoint answers the issues
// created, newest first, only those updated since the time asked, and
// refuses what GitHub refuses (per_page over 100, a since that is not ISO
// 8601) as a violation.
func TestGitHubListsTheIssuesItOpened(t *testing.T) {
	t.Parallel()
	g := NewGitHub(t)
	h := map[string]string{"Authorization": "Bearer t", "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "test"}
	for _, title := range []string{"first", "second"} {
		if status, body := post(t, g.APIURL()+"/repos/smp/incidents/issues", h, `{"title":"`+title+`","body":"b"}`); status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", title, status, body)
		}
	}
	get := func(t *testing.T, g *GitHub, query string) (int, string) {
		t.Helper()
		return request(t, http.MethodGet, g.APIURL()+"/repos/smp/incidents/issues?"+query, h, nil)
	}
	status, body := get(t, g, "state=all&per_page=100&since=2020-01-01T00:00:00Z")
	if status != http.StatusOK || !strings.Contains(body, `"title":"second"`) || strings.Index(body, `"second"`) > strings.Index(body, `"first"`) {
		t.Errorf("list: %d %s, want both, newest first", status, body)
	}
	if status, body := get(t, g, "since=2999-01-01T00:00:00Z"); status != http.StatusOK || body != "[]" {
		t.Errorf("list since the future: %d %s, want []", status, body)
	}
	if g.Lists() != 2 {
		t.Errorf("%d lists counted, want 2", g.Lists())
	}
	for query, want := range map[string]string{"per_page=500": "per_page", "since=yesterday": "since", "state=any": "state"} {
		r := &recorder{TB: t}
		bad := NewGitHub(r)
		if status, _ := get(t, bad, query); status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", query, status)
		}
		r.finish()
		if len(r.errors) != 1 || !strings.Contains(r.errors[0], want) {
			t.Errorf("%s: violations %q, want one about %s", query, r.errors, want)
		}
	}
}
