package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	iss = "https://auth.smp.vn"
	aud = "order-svc"
)

type testClaims struct {
	jwt.RegisteredClaims
	Scope string `json:"scope,omitempty"`
}

func newClaims(sub string) testClaims {
	now := time.Now()
	return testClaims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: sub, Issuer: iss, Audience: jwt.ClaimStrings{"other", aud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}, Scope: "catalog:read catalog:write"}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c testClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRS256(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v := NewRS256(&key.PublicKey, iss, aud)
	p, err := v.Verify(sign(t, jwt.SigningMethodRS256, key, newClaims("cust-9")))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "cust-9" || !p.HasScope("catalog:write") || p.HasScope("admin") {
		t.Errorf("principal = %+v", p)
	}

	// Algorithm confusion: an HS256 token whose secret is the public key.
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, pubPEM, newClaims("cust-9"))); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("HS256 token signed with the RSA public key accepted: %v", err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, other, newClaims("cust-9"))); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("token signed by another key accepted: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS512, key, newClaims("cust-9"))); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("RS512 token accepted by an RS256 verifier: %v", err)
	}
}

func TestHS256Rejections(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v := NewHS256(secret, iss, aud)
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, newClaims("c"))); err != nil {
		t.Fatalf("valid token rejected: %v", err)
	}
	skewed := newClaims("c")
	skewed.IssuedAt = jwt.NewNumericDate(time.Now().Add(10 * time.Second))
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, skewed)); err != nil {
		t.Errorf("token issued 10s in the future (clock skew) rejected: %v", err)
	}
	future := newClaims("c")
	future.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	long := newClaims(string(make([]byte, 256)))
	notYet := newClaims("c")
	notYet.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour))
	bad := map[string]string{
		"issued in the future": sign(t, jwt.SigningMethodHS256, secret, future),
		"not valid yet":        sign(t, jwt.SigningMethodHS256, secret, notYet),
		"HS512":                sign(t, jwt.SigningMethodHS512, secret, newClaims("c")),
		"subject too long":     sign(t, jwt.SigningMethodHS256, secret, long),
		"blank subject":        sign(t, jwt.SigningMethodHS256, secret, newClaims("  ")),
		"empty":                "",
	}
	for name, tok := range bad {
		if _, err := v.Verify(tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
}

func TestFromHeader(t *testing.T) {
	for h, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "BEARER x.y.z": "x.y.z"} {
		got, err := FromHeader(h)
		if err != nil || got != want {
			t.Errorf("FromHeader(%q) = %q, %v", h, got, err)
		}
	}
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic abc", "abc"} {
		if _, err := FromHeader(h); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("FromHeader(%q): err = %v", h, err)
		}
	}
}
