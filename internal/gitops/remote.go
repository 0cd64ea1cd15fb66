package gitops

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/smp/delivery/internal/gitcmd"
)

// Kind is how a remote is reached.
type Kind int

// The kinds of remote.
const (
	// Local is a path on this machine; git is given it as file://.
	Local Kind = iota
	// File is a file:// URL.
	File
	// HTTPS is an https:// URL; a token goes as an HTTP header.
	HTTPS
	// SSH is ssh://… or user@host:path, through the user's agent.
	SSH
	// Plain is http:// or git://: unencrypted, so no token is ever sent.
	Plain
)

func (k Kind) String() string {
	return [...]string{"local path", "file URL", "https URL", "ssh URL", "unencrypted URL"}[k]
}

// IsURL reports whether spec names a remote (scheme://… or user@host:path)
// rather than a local path. Readers read a local path in place and a URL
// through the cache.
func IsURL(spec string) bool {
	return strings.Contains(spec, "://") || isSCP(spec)
}

// Classify returns the kind of a remote address and what git is to be given:
// a local path becomes an absolute file:// URL (git ignores --depth for plain
// paths and hard-links their object store; file:// runs the remote's hooks
// exactly as a server would). A local path or file:// URL must exist.
func Classify(raw string) (Kind, string, error) {
	switch {
	case strings.HasPrefix(raw, "https://"), strings.HasPrefix(raw, "http://"),
		strings.HasPrefix(raw, "ssh://"), strings.HasPrefix(raw, "git://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return 0, "", fmt.Errorf("%w: %s is not a valid URL", ErrRemoteNotFound, Redact(raw))
		}
		switch u.Scheme {
		case "https":
			return HTTPS, raw, nil
		case "ssh":
			return SSH, raw, nil
		}
		return Plain, raw, nil
	case strings.HasPrefix(raw, "file://"):
		p := strings.TrimPrefix(raw, "file://")
		if _, err := os.Stat(p); err != nil {
			return 0, "", fmt.Errorf("%w: %s does not exist: create it with `git init --bare` and `smpctl gitops init`, or fix the repository's path", ErrRemoteNotFound, p)
		}
		return File, raw, nil
	case strings.Contains(raw, "://"):
		return 0, "", fmt.Errorf("%w: %s: unsupported scheme; use a path, file://, https:// or ssh", ErrRemoteNotFound, Redact(raw))
	case isSCP(raw):
		return SSH, raw, nil
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %s: %w", ErrRemoteNotFound, raw, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return 0, "", fmt.Errorf("%w: %s does not exist: create it with `git init --bare` and `smpctl gitops init`, or fix the repository's path", ErrRemoteNotFound, abs)
	}
	return Local, "file://" + abs, nil
}

// isSCP recognises git@github.com:smp/smp-gitops.git.
func isSCP(s string) bool {
	colon := strings.Index(s, ":")
	if colon <= 0 || strings.ContainsAny(s[:colon], "/\\") || strings.HasPrefix(s[colon:], "://") {
		return false
	}
	return strings.Contains(s[:colon], "@") || strings.Contains(s[:colon], ".")
}

// Redact removes a password from a URL (https://user:pw@host → user:xxxxx),
// and over http(s) a user name given alone, which is how a token is often
// written (https://ghp_…@github.com: GitHub takes it as the user name); an
// ssh user (ssh://git@host) is no secret and stays.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok && (u.Scheme == "https" || u.Scheme == "http") && u.User.Username() != "" {
		u.User = url.User("xxxxx")
		return u.String()
	}
	return u.Redacted()
}

// conn is a classified remote with its credentials: the one place that
// builds git's environment for the remote and scrubs secrets from what git
// says. Repo (writes) and Mirror (the cache every command shares) use it.
type conn struct {
	remote Remote
	kind   Kind
	url    string // what git is given
	secret []string
}

func newConn(r Remote) (*conn, error) {
	if r.URL == "" {
		return nil, fmt.Errorf("%w: no GitOps repository given: give its URL or path", ErrRemoteNotFound)
	}
	if r.Branch == "" {
		r.Branch = "main"
	}
	kind, u, err := Classify(r.URL)
	if err != nil {
		return nil, err
	}
	c := &conn{remote: r, kind: kind, url: u}
	if pu, err := url.Parse(r.URL); err == nil && pu.User != nil {
		if pw, ok := pu.User.Password(); ok && pw != "" {
			if kind == Plain {
				return nil, fmt.Errorf("%w: %s carries a password but is not encrypted: git would send it in the clear; use an https:// URL, with the token in SMP_GIT_TOKEN rather than in the URL", ErrAuth, Redact(r.URL))
			}
			c.secret = append(c.secret, pw)
		} else if name := pu.User.Username(); !ok && name != "" && (pu.Scheme == "https" || pu.Scheme == "http") {
			c.secret = append(c.secret, name) // a token written as the user name (Redact)
		}
	}
	if r.Token != "" {
		// A token travels only where it is encrypted; anywhere else (local
		// paths, ssh) it is not needed and not sent.
		if kind == Plain {
			return nil, fmt.Errorf("%w: %s is not encrypted: SMP_GIT_TOKEN is sent only over https; use an https:// URL or unset the token", ErrAuth, Redact(r.URL))
		}
		c.secret = append(c.secret, r.Token, basicAuth(r.Token))
	}
	return c, nil
}

func basicAuth(token string) string {
	return base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
}

// String names the remote without credentials.
func (c *conn) String() string { return Redact(c.remote.URL) }

// scrub replaces every credential in s.
func (c *conn) scrub(s string) string {
	for _, secret := range c.secret {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[REDACTED]")
		}
	}
	return Redact(s)
}

// runner is git with a controlled environment: no prompts, ssh in batch
// mode, the token as an extra http header (https only) and the extra CA —
// all through the environment, never argv. No background gc or maintenance:
// it would outlive the command, and in the shared cache it could prune
// objects another process is about to use.
func (c *conn) runner(dir string, timeout time.Duration, env ...string) gitcmd.Runner {
	sshCmd := "ssh -o BatchMode=yes"
	if c.remote.SSHCommand != "" {
		sshCmd = c.remote.SSHCommand
	}
	cfg := map[string]string{
		"core.sshCommand":     sshCmd,
		"advice.detachedHead": "false",
		"init.defaultBranch":  c.remote.Branch,
		"protocol.version":    "2",
		"gc.auto":             "0",
		"maintenance.auto":    "false",
	}
	if c.remote.Token != "" && c.kind == HTTPS {
		cfg["http.extraHeader"] = "Authorization: Basic " + basicAuth(c.remote.Token)
	}
	env = append([]string{"GIT_ASKPASS=true", "GCM_INTERACTIVE=never"}, env...)
	if c.remote.CAFile != "" {
		cfg["http.sslCAInfo"] = c.remote.CAFile
		// GIT_SSL_CAINFO, when the caller's environment sets it, beats
		// http.sslCAInfo; the explicit option must win.
		env = append(env, "GIT_SSL_CAINFO="+c.remote.CAFile)
	}
	return gitcmd.Runner{Dir: dir, Timeout: timeout, Config: cfg, Env: env}
}

// run runs git and reports a failure by its subcommand alone (the rest
// names temporary paths) with what git printed on both streams — `git
// commit` says "nothing to commit" on standard output — and the
// credentials scrubbed.
func (c *conn) run(ctx context.Context, g gitcmd.Runner, stdin []byte, args ...string) (string, error) {
	out, err := g.RunInput(ctx, stdin, args...)
	var ge *gitcmd.Error
	if errors.As(err, &ge) {
		return string(out), fmt.Errorf("git %s: %w: %s", args[0], ge.Err, c.scrub(strings.TrimSpace(ge.Stderr+"\n"+ge.Stdout)))
	}
	return string(out), err
}

// httpDenied matches git's report of an HTTP 401 or 403.
var httpDenied = regexp.MustCompile(`returned error: 40[13]\b|\bhttp 40[13]\b`)

// classify maps a failed remote call to a sentinel, with the remote named
// and the credentials scrubbed.
func (c *conn) classify(op string, err error) error {
	msg := c.scrub(err.Error())
	low := strings.ToLower(msg)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: timed out: %w", op, c, err)
	case strings.Contains(low, "remote branch") && strings.Contains(low, "not found"):
		return fmt.Errorf("%w: %s %s: branch %q does not exist; run `smpctl gitops init` first", ErrNoBranch, op, c, c.remote.Branch)
	case strings.Contains(low, "does not appear to be a git repository"), strings.Contains(low, "repository not found"),
		strings.Contains(low, "no such file"), strings.Contains(low, "could not resolve host"):
		return fmt.Errorf("%w: %s %s: %s; check the repository's URL", ErrRemoteNotFound, op, c, lastLines(msg, 2))
	case strings.Contains(low, "authentication failed"), strings.Contains(low, "could not read username"),
		strings.Contains(low, "permission denied"), httpDenied.MatchString(low):
		return fmt.Errorf("%w: %s %s: %s; check SMP_GIT_TOKEN (https) or your ssh agent", ErrAuth, op, c, lastLines(msg, 2))
	case strings.Contains(low, "not found"), strings.Contains(low, "could not read from remote"):
		return fmt.Errorf("%w: %s %s: %s; check the repository's URL", ErrRemoteNotFound, op, c, lastLines(msg, 2))
	}
	return fmt.Errorf("%s %s: %s", op, c, msg)
}
