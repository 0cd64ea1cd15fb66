// Package ciidentitytest serves a stand-in for GitHub Actions' OIDC issuer
// on loopback, for tests: GitHub itself cannot be reached from them. It is
// a recorded contract, kept to what GitHub documents ("About security
// hardening with OpenID Connect" and the actions/toolkit core.getIDToken
// client): the discovery document at /.well-known/openid-configuration,
// the RS256 keys at its jwks_uri, and the job's token request — GET
// ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with the request token as a
// bearer, answered {"count": N, "value": "<JWT>"} — with the claims GitHub
// puts in a token (sub, repository, workflow_ref, run_id, run_attempt,
// actor, environment, ref, sha, ...).
package ciidentitytest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the stand-in issuer.
type Issuer struct {
	URL string
	// RequestToken is what the job's token request must carry.
	RequestToken string

	mu     sync.Mutex
	key    *rsa.PrivateKey
	claims jwt.MapClaims
	// requests counts token requests, and audiences lists what they asked for.
	audiences []string
}

const kid = "smp-test-key"

// NewIssuer serves an issuer until the test ends. Its tokens are for run
// 1234567890 attempt 1 of smp/order-svc's cd.yml on main, by alice, in the
// prod environment, valid for 5 minutes from when they are minted.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{key: key, RequestToken: "request-token-for-the-job"}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	is.claims = jwt.MapClaims{
		"sub":                   "repo:smp/order-svc:environment:prod",
		"repository":            "smp/order-svc",
		"repository_owner":      "smp",
		"workflow_ref":          "smp/order-svc/.github/workflows/cd.yml@refs/heads/main",
		"job_workflow_ref":      "smp/delivery/.github/workflows/cd.yml@refs/tags/v0.2.0",
		"run_id":                "1234567890",
		"run_attempt":           "1",
		"actor":                 "alice",
		"environment":           "prod",
		"ref":                   "refs/heads/main",
		"sha":                   "0123456789abcdef0123456789abcdef01234567",
		"event_name":            "push",
		"runner_environment":    "github-hosted",
		"repository_visibility": "private",
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                is.URL,
			"jwks_uri":                              is.URL + "/.well-known/jwks",
			"subject_types_supported":               []string{"public", "pairwise"},
			"response_types_supported":              []string{"id_token"},
			"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "run_id", "actor", "workflow_ref", "environment", "sha"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"scopes_supported":                      []string{"openid"},
		})
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, r *http.Request) {
		pub := is.key.PublicKey
		writeJSON(w, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer "+is.RequestToken || r.URL.Query().Get("api-version") == "" {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		aud := r.URL.Query().Get("audience")
		is.mu.Lock()
		is.audiences = append(is.audiences, aud)
		is.mu.Unlock()
		writeJSON(w, map[string]any{"count": 1, "value": is.Mint(t, aud, nil)})
	})
	return is
}

// Env is what GitHub Actions sets in a job with `id-token: write`.
func (is *Issuer) Env() map[string]string {
	return map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   is.URL + "/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": is.RequestToken,
	}
}

// Set changes a claim of the tokens minted from now on (nil removes it).
func (is *Issuer) Set(claim string, v any) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if v == nil {
		delete(is.claims, claim)
		return
	}
	is.claims[claim] = v
}

// Audiences are the audiences the token requests asked for.
func (is *Issuer) Audiences() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]string(nil), is.audiences...)
}

// Mint signs a token for aud with the issuer's key; over (may be nil)
// replaces claims, e.g. {"exp": ...} or {"iss": ...}.
func (is *Issuer) Mint(t testing.TB, aud string, over map[string]any) string {
	return is.sign(t, is.key, aud, over)
}

// Forge signs the same token with another key under the issuer's key id:
// what an attacker without the issuer's key can make.
func (is *Issuer) Forge(t testing.TB, aud string) string {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return is.sign(t, other, aud, nil)
}

func (is *Issuer) sign(t testing.TB, key *rsa.PrivateKey, aud string, over map[string]any) string {
	now := time.Now()
	c := jwt.MapClaims{"iss": is.URL, "aud": aud, "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "test"}
	is.mu.Lock()
	for k, v := range is.claims {
		c[k] = v
	}
	is.mu.Unlock()
	for k, v := range over {
		c[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
