// Package auth verifies the bearer tokens (JWT) that callers of order-svc
// present. One algorithm is accepted per deployment — HS256 with a shared
// secret or RS256 with a public key — so a token signed with any other
// algorithm (including "none", or HS256 signed with the RSA public key as
// the secret) is rejected before its signature is looked at.
package auth

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnauthenticated wraps every reason a token is refused; handlers map it
// to 401 without showing the detail to the caller.
var ErrUnauthenticated = errors.New("unauthenticated")

// Leeway tolerates clock skew between the token issuer and this service.
const Leeway = 30 * time.Second

// Principal is the authenticated caller.
type Principal struct {
	// Subject is the token's "sub": the customer an order belongs to.
	Subject string
	Scopes  []string
}

// HasScope reports whether the token granted scope s.
func (p Principal) HasScope(s string) bool { return slices.Contains(p.Scopes, s) }

// Verifier checks tokens against one key, issuer and audience.
type Verifier struct {
	key    any
	parser *jwt.Parser
}

// NewHS256 returns a Verifier for tokens signed with secret.
func NewHS256(secret []byte, issuer, audience string) *Verifier {
	return newVerifier(secret, "HS256", issuer, audience)
}

// NewRS256 returns a Verifier for tokens signed with the private half of key.
func NewRS256(key *rsa.PublicKey, issuer, audience string) *Verifier {
	return newVerifier(key, "RS256", issuer, audience)
}

func newVerifier(key any, alg, issuer, audience string) *Verifier {
	return &Verifier{
		key: key,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
		),
	}
}

type claims struct {
	jwt.RegisteredClaims
	Scope string `json:"scope,omitempty"`
}

// Verify parses and checks a compact JWS. Every failure wraps
// ErrUnauthenticated.
func (v *Verifier) Verify(token string) (Principal, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if strings.TrimSpace(c.Subject) == "" {
		return Principal{}, fmt.Errorf("%w: token has no subject", ErrUnauthenticated)
	}
	if len(c.Subject) > 255 {
		return Principal{}, fmt.Errorf("%w: subject longer than 255 bytes", ErrUnauthenticated)
	}
	return Principal{Subject: c.Subject, Scopes: strings.Fields(c.Scope)}, nil
}

// FromHeader extracts the token from an "Authorization: Bearer <token>"
// header value.
func FromHeader(h string) (string, error) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", fmt.Errorf("%w: expected an Authorization: Bearer <token> header", ErrUnauthenticated)
	}
	return strings.TrimSpace(token), nil
}
