package imageref

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/smp/delivery/internal/fault"
)

// ErrUnreachable marks a registry that did not answer after the bounded
// retries (a refused remote, exit 1).
var ErrUnreachable = fault.Refusedf("registry unreachable")

// Access says how smpctl reaches registries: credentials, transport and the
// retry budget. The zero value reads ~/.docker/config.json and retries three
// times starting at half a second.
type Access struct {
	// GitHubToken authenticates to ghcr.io when set (GITHUB_TOKEN in CI);
	// it is read at the edge, never here, and never printed.
	GitHubToken string
	// GitHubActor is the user name sent with GitHubToken (default smpctl).
	GitHubActor string
	// Keychain resolves other registries' credentials (default:
	// authn.DefaultKeychain, i.e. ~/.docker/config.json and its helpers).
	Keychain authn.Keychain
	// Transport is the HTTP transport (default remote.DefaultTransport).
	Transport http.RoundTripper
	// Attempts bounds the tries of one request (default 3).
	Attempts int
	// Backoff is the first delay between tries, doubled each time (default 500ms).
	Backoff time.Duration
}

// GitHubKeychain answers for ghcr.io with user and token, and anonymously
// for every other registry (so the next keychain decides).
func GitHubKeychain(user, token string) authn.Keychain {
	return githubKeychain{user: user, token: token}
}

// githubKeychain answers for ghcr.io with a token, and defers otherwise.
type githubKeychain struct{ user, token string }

func (k githubKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if k.token == "" || r.RegistryStr() != "ghcr.io" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: k.user, Password: k.token}, nil
}

// loopbackOnlyHTTP refuses clear-text requests to any registry but this
// machine: go-containerregistry would use http for RFC 1918 addresses too.
type loopbackOnlyHTTP struct{ next http.RoundTripper }

func (t loopbackOnlyHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !IsLoopback(req.URL.Host) {
		return nil, fmt.Errorf("refusing plain http to %s: only localhost/127.0.0.1 registries may be reached without TLS", req.URL.Host)
	}
	return t.next.RoundTrip(req)
}

// Options returns the remote options for one operation under ctx.
func (a Access) Options(ctx context.Context) []remote.Option {
	kc := a.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	actor := a.GitHubActor
	if actor == "" {
		actor = "smpctl"
	}
	tr := a.Transport
	if tr == nil {
		tr = remote.DefaultTransport
	}
	attempts, backoff := a.Attempts, a.Backoff
	if attempts <= 0 {
		attempts = 3
	}
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.NewMultiKeychain(githubKeychain{user: actor, token: a.GitHubToken}, kc)),
		remote.WithTransport(loopbackOnlyHTTP{next: tr}),
		remote.WithRetryBackoff(remote.Backoff{Duration: backoff, Factor: 2, Jitter: 0.1, Steps: attempts}),
		remote.WithRetryPredicate(retryable),
		remote.WithUserAgent("smpctl"),
	}
}

// retryable extends go-containerregistry's transient errors with the ones a
// registry that is starting or briefly away gives: refused connections and
// dial timeouts.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &ne) && ne.Timeout())
}

// Explain turns a transport error into one that says what to do: an
// unreachable registry wraps ErrUnreachable, an authentication failure says
// where credentials come from.
func Explain(err error, reg name.Registry, attempts int) error {
	if err == nil {
		return nil
	}
	if attempts <= 0 {
		attempts = 3
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("registry %s refused the credentials (%d): log in with `docker login %s` (~/.docker/config.json) or set GITHUB_TOKEN for ghcr.io: %w", reg, te.StatusCode, reg, err)
		}
		return err
	}
	var ne net.Error
	var dnsErr *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("%w: %s did not answer after %d attempts (%w): check the registry address, that it is running, and the network", ErrUnreachable, reg, attempts, err)
	}
	return err
}

// NotFound reports whether a registry call failed because the manifest,
// tag or blob does not exist (HTTP 404), as opposed to a refusal or an
// unreachable registry.
func NotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
