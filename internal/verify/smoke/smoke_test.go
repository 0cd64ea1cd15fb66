package smoke

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/testkit/testimage"
)

var binDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "smoke-bins-")
	if err != nil {
		panic(err)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func serve(t *testing.T, version, mode string) string {
	t.Helper()
	return testimage.Start(t, binDir, version, mode)
}

func names(r Result) map[string]bool {
	m := map[string]bool{}
	for _, c := range r.Checks {
		m[c.Name] = c.OK
	}
	return m
}

func TestSmokePassesAgainstTheExpectedVersion(t *testing.T) {
	t.Parallel()
	url := serve(t, "1.2.3", testimage.ModeOK)
	res, err := Run(context.Background(), Options{URL: url, Token: "t0ken", ExpectVersion: "1.2.3"})
	if err != nil {
		t.Fatalf("%v: %+v", err, res)
	}
	want := map[string]bool{"version is 1.2.3": true, "GET /health": true, "GET /api/v1/catalog/services (JWT)": true, "POST /api/v1/test/echo": true}
	if got := names(res); len(got) != len(want) || !res.OK || res.Version != "1.2.3" {
		t.Errorf("checks %v, ok %v, version %s", got, res.OK, res.Version)
	}
	var buf bytes.Buffer
	if err := res.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "passed (version 1.2.3)") {
		t.Errorf("text: %v\n%s", err, buf.String())
	}
}

func TestSmokeFails(t *testing.T) {
	t.Parallel()
	old := serve(t, "1.0.0", testimage.ModeOK)
	bad := serve(t, "2.0.0", testimage.ModeErrors)
	cases := []struct {
		name   string
		opts   Options
		failed string
		detail string
	}{
		{"when the old version still answers", Options{URL: old, Token: "t", ExpectVersion: "1.1.0", Wait: 2 * time.Second, Poll: 50 * time.Millisecond},
			"version is 1.1.0", `reports version "1.0.0", waiting for "1.1.0"`},
		{"without a token", Options{URL: old}, "GET /api/v1/catalog/services (JWT)", "no token"},
		{"when the echo create answers 500", Options{URL: bad, Token: "t"}, "POST /api/v1/test/echo", "500"},
		// Wait long enough that a loaded machine's first dial is refused
		// before the deadline cuts it ("deadline exceeded" otherwise).
		{"when nothing listens", Options{URL: "http://127.0.0.1:1", Token: "t", Wait: 2 * time.Second, Poll: 50 * time.Millisecond}, "GET /health", "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), tc.opts)
			if !errors.Is(err, ErrFailed) || res.OK {
				t.Fatalf("err %v ok %v, want ErrFailed", err, res.OK)
			}
			var found bool
			for _, c := range res.Checks {
				if c.Name == tc.failed {
					found = true
					if c.OK || !strings.Contains(c.Detail, tc.detail) {
						t.Errorf("%s: ok %v detail %q, want failed with %q", c.Name, c.OK, c.Detail, tc.detail)
					}
				}
			}
			if !found {
				t.Errorf("no check %q in %+v", tc.failed, res.Checks)
			}
			var buf bytes.Buffer
			if err := res.WriteJUnit(&buf); err != nil {
				t.Fatal(err)
			}
			var suite struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
				Cases    []struct {
					Name    string    `xml:"name,attr"`
					Failure *struct{} `xml:"failure"`
				} `xml:"testcase"`
			}
			if err := xml.Unmarshal(buf.Bytes(), &suite); err != nil {
				t.Fatalf("junit: %v\n%s", err, buf.String())
			}
			if suite.Tests != len(res.Checks) || suite.Failures == 0 {
				t.Errorf("junit tests %d failures %d\n%s", suite.Tests, suite.Failures, buf.String())
			}
		})
	}
}

func TestOptionsRejectBadInput(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{URL: ""}, {URL: "127.0.0.1:8080"}, {URL: "ftp://x"}, {URL: "http://x", Token: "a b"}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if err := (&Options{URL: "http://127.0.0.1:8080/"}).Validate(); err != nil {
		t.Error(err)
	}
}
