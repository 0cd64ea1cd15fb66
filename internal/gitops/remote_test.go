package gitops

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestClassifyNamesEveryKindOfRemote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		raw     string
		kind    Kind
		url     string
		invalid bool
	}{
		{raw: dir, kind: Local, url: "file://" + dir},
		{raw: "file://" + dir, kind: File, url: "file://" + dir},
		{raw: "https://github.com/smp/smp-gitops.git", kind: HTTPS, url: "https://github.com/smp/smp-gitops.git"},
		{raw: "ssh://git@github.com/smp/smp-gitops.git", kind: SSH, url: "ssh://git@github.com/smp/smp-gitops.git"},
		{raw: "git@github.com:smp/smp-gitops.git", kind: SSH, url: "git@github.com:smp/smp-gitops.git"},
		{raw: "http://git.internal/smp-gitops.git", kind: Plain, url: "http://git.internal/smp-gitops.git"},
		{raw: filepath.Join(dir, "missing.git"), invalid: true},
		{raw: "file://" + filepath.Join(dir, "missing.git"), invalid: true},
		{raw: "ftp://host/repo.git", invalid: true},
		{raw: "https://", invalid: true},
	} {
		kind, url, err := Classify(tt.raw)
		if tt.invalid {
			if !errors.Is(err, ErrRemoteNotFound) {
				t.Errorf("Classify(%q) = %v, %q, %v; want ErrRemoteNotFound", tt.raw, kind, url, err)
			}
			continue
		}
		if err != nil || kind != tt.kind || url != tt.url {
			t.Errorf("Classify(%q) = %v, %q, %v; want %v, %q", tt.raw, kind, url, err, tt.kind, tt.url)
		}
	}
}

func TestTheTokenTravelsOnlyInGitsEnvironmentAndOnlyOverHTTPS(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	c, err := newConn(Remote{URL: "https://github.com/smp/smp-gitops.git", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	g := c.runner("", 0)
	if !strings.HasPrefix(g.Config["http.extraHeader"], "Authorization: Basic ") || strings.Contains(g.Config["http.extraHeader"], token) {
		t.Errorf("https header = %q: want a base64 basic header, never the raw token", g.Config["http.extraHeader"])
	}
	if strings.Contains(strings.Join(g.Global, " "), token) {
		t.Error("the token is on git's command line")
	}
	ssh, err := newConn(Remote{URL: "git@github.com:smp/smp-gitops.git", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := ssh.runner("", 0).Config["http.extraHeader"]; ok {
		t.Errorf("ssh remote got an http header %q", h)
	}
	if _, err := newConn(Remote{URL: "http://git.internal/smp-gitops.git", Token: token}); !errors.Is(err, ErrAuth) {
		t.Errorf("a token over plain http: %v, want ErrAuth (refused, not sent)", err)
	}
	if _, err := newConn(Remote{URL: "http://bot:s3cret@git.internal/smp-gitops.git"}); !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a password in a plain http URL: %v, want ErrAuth without the password", err)
	}
	if _, err := newConn(Remote{URL: "http://git.internal/smp-gitops.git"}); err != nil {
		t.Errorf("plain http without a token: %v", err)
	}
}

func TestScrubRemovesEveryFormOfTheCredentials(t *testing.T) {
	t.Parallel()
	c, err := newConn(Remote{URL: "https://ci:pa55word@git.example/smp-gitops.git", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	msg := c.scrub("fatal: https://ci:pa55word@git.example/smp-gitops.git: Authorization: Basic " + basicAuth("tok") + " tok")
	for _, secret := range []string{"pa55word", basicAuth("tok"), " tok"} {
		if strings.Contains(msg, secret) {
			t.Errorf("scrubbed message %q still holds %q", msg, secret)
		}
	}
	if s := c.String(); strings.Contains(s, "pa55word") {
		t.Errorf("String() = %q", s)
	}
}

// TestATokenWrittenAsTheUserNameIsRedacted: https://ghp_…@github.com is how
// a token is often pasted (GitHub takes it as the user name); url.Redacted
// masks only a password, so it was printed whole.
func TestATokenWrittenAsTheUserNameIsRedacted(t *testing.T) {
	t.Parallel()
	const tok = "ghp_0123456789abcdefTOKEN" // gitleaks:allow -- not a real token
	raw := "https://" + tok + "@github.com/smp/smp-gitops.git"
	if got := Redact(raw); strings.Contains(got, tok) || got != "https://xxxxx@github.com/smp/smp-gitops.git" {
		t.Errorf("Redact(%q) = %q", raw, got)
	}
	c, err := newConn(Remote{URL: raw})
	if err != nil {
		t.Fatal(err)
	}
	if msg := c.scrub("fatal: could not read Password for 'https://" + tok + "@github.com': terminal prompts disabled"); strings.Contains(msg, tok) {
		t.Errorf("scrubbed message %q still holds the token", msg)
	}
	if s := c.String(); strings.Contains(s, tok) {
		t.Errorf("String() = %q", s)
	}
	// An ssh user is no secret.
	if got := Redact("ssh://git@github.com/smp/smp-gitops.git"); got != "ssh://git@github.com/smp/smp-gitops.git" {
		t.Errorf("Redact(ssh) = %q", got)
	}
}
