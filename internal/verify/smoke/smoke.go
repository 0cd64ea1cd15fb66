// Package smoke is the seed's post-deploy smoke test, done right: it first
// waits until /health reports the version that was deployed (so it never
// passes against the old one), then sends the seed's three requests — the
// health check, a JWT-authenticated read of the service catalog and the echo
// create with a JSON body and an Idempotency-Key — and records each as a
// check, with JSON and JUnit output.
package smoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// Options of a smoke run.
type Options struct {
	// URL is the service's base URL (the environment's or a preview URL).
	URL string
	// Token is the bearer token for the authenticated read.
	Token string
	// ExpectVersion, when set, is waited for on /health before the checks.
	ExpectVersion string
	// Wait bounds the wait for ExpectVersion; default 2 minutes.
	Wait time.Duration
	// Poll is the interval between /health polls; default 500ms.
	Poll time.Duration
	// Client sends the requests; default a client with a 10s timeout.
	Client *http.Client
}

// Check is one smoke check.
type Check struct {
	Name     string        `json:"name"`
	OK       bool          `json:"ok"`
	Duration time.Duration `json:"durationNs"`
	Detail   string        `json:"detail"`
}

// Result of a smoke run.
type Result struct {
	URL     string  `json:"url"`
	Version string  `json:"version"`
	OK      bool    `json:"ok"`
	Checks  []Check `json:"checks"`
}

// ErrFailed is returned when a check failed.
var ErrFailed = fault.Refusedf("smoke test failed")

// Validate checks the options a user gave.
func (o *Options) Validate() error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fault.Inputf("URL", "URL %q: give the service's base URL, e.g. http://127.0.0.1:8080", o.URL)
	}
	if strings.ContainsAny(o.Token, " \n\r\t") {
		return fault.Inputf("Token", "token contains whitespace: the token file must hold the JWT only")
	}
	return nil
}

// Run runs the smoke test. It returns ErrFailed (with the result) when a
// check failed, and ctx's error when cancelled.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Wait == 0 {
		o.Wait = 2 * time.Minute
	}
	if o.Poll == 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	base := strings.TrimRight(o.URL, "/")
	res := Result{URL: base}
	add := func(name string, start time.Time, err error, detail string) {
		c := Check{Name: name, OK: err == nil, Duration: time.Since(start), Detail: detail}
		if err != nil {
			c.Detail = err.Error()
		}
		res.Checks = append(res.Checks, c)
	}

	start := time.Now()
	v, err := waitVersion(ctx, o, base)
	res.Version = v
	name := "version"
	if o.ExpectVersion != "" {
		name = "version is " + o.ExpectVersion
	}
	add(name, start, err, "/health reports "+v)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}

	start = time.Now()
	_, err = do(ctx, o.Client, http.MethodGet, base+"/health", nil, nil)
	add("GET /health", start, err, "200")

	start = time.Now()
	if o.Token == "" {
		add("GET /api/v1/catalog/services (JWT)", start, errors.New("no token: give one to run the JWT checks"), "")
	} else {
		body, err := do(ctx, o.Client, http.MethodGet, base+"/api/v1/catalog/services", nil, map[string]string{"Authorization": "Bearer " + o.Token})
		if err == nil && !json.Valid(body) {
			err = fmt.Errorf("answer is not JSON: %.100q", body)
		}
		add("GET /api/v1/catalog/services (JWT)", start, err, "200, JSON")
	}

	start = time.Now()
	sent := map[string]any{"hello": "world", "smoke": randomKey()}
	payload, _ := json.Marshal(sent)
	hdr := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "smoke-" + randomKey()}
	if o.Token != "" {
		hdr["Authorization"] = "Bearer " + o.Token
	}
	body, err := do(ctx, o.Client, http.MethodPost, base+"/api/v1/test/echo", payload, hdr)
	if err == nil {
		var got map[string]any
		if jerr := json.Unmarshal(body, &got); jerr != nil || !reflect.DeepEqual(got, sent) {
			err = fmt.Errorf("echo answered %.200q, want %s", body, payload)
		}
	}
	add("POST /api/v1/test/echo", start, err, "echoed")

	res.OK = true
	for _, c := range res.Checks {
		res.OK = res.OK && c.OK
	}
	if !res.OK {
		return res, ErrFailed
	}
	return res, nil
}

func randomKey() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// waitVersion polls /health until it answers 200 (and reports the expected
// version, when one is given) or o.Wait passes.
func waitVersion(ctx context.Context, o Options, base string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	var last error
	seen := ""
	for {
		body, err := do(ctx, o.Client, http.MethodGet, base+"/health", nil, nil)
		if err == nil {
			var h struct {
				Status  string `json:"status"`
				Version string `json:"version"`
			}
			if jerr := json.Unmarshal(body, &h); jerr != nil {
				last = fmt.Errorf("/health is not JSON: %.100q", body)
			} else {
				seen = h.Version
				if o.ExpectVersion == "" || h.Version == o.ExpectVersion {
					return h.Version, nil
				}
				last = fmt.Errorf("/health reports version %q, waiting for %q", h.Version, o.ExpectVersion)
			}
		} else if ctx.Err() == nil || last == nil {
			// A request cut off by our own deadline says nothing new: the
			// last answer we did get ("reports version X") is what helps.
			last = err
		}
		select {
		case <-ctx.Done():
			return seen, fmt.Errorf("after %s: %w", o.Wait, last)
		case <-time.After(o.Poll):
		}
	}
}

func do(ctx context.Context, c *http.Client, method, u string, body []byte, hdr map[string]string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s: %s: %.200s", method, u, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// WriteJUnit writes the result as a JUnit XML report (one test suite, one
// test case per check), which CI systems display.
func (r Result) WriteJUnit(w io.Writer) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Time     string     `xml:"time,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: "smoke " + r.URL, Tests: len(r.Checks)}
	var total time.Duration
	for _, c := range r.Checks {
		tc := testcase{Name: c.Name, Classname: "smoke", Time: fmt.Sprintf("%.3f", c.Duration.Seconds())}
		if !c.OK {
			s.Failures++
			tc.Failure = &failure{Message: c.Detail, Text: c.Detail}
		}
		total += c.Duration
		s.Cases = append(s.Cases, tc)
	}
	s.Time = fmt.Sprintf("%.3f", total.Seconds())
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteText writes one line per check.
func (r Result) WriteText(w io.Writer) error {
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		if _, err := fmt.Fprintf(w, "%s %-36s %8s  %s\n", mark, c.Name, c.Duration.Round(time.Millisecond), c.Detail); err != nil {
			return err
		}
	}
	verdict := "passed"
	if !r.OK {
		verdict = "FAILED"
	}
	_, err := fmt.Fprintf(w, "smoke %s: %s (version %s)\n", r.URL, verdict, r.Version)
	return err
}
