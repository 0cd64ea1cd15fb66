package signing_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/signing"
	"github.com/smp/delivery/internal/image/signing/sigstoretest"
	"github.com/smp/delivery/internal/testkit/imagetest"
)

func digestOf(t *testing.T, repo, digest string) name.Digest {
	t.Helper()
	d, err := imageref.Digest(repo + "@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sbomDoc reads the CycloneDX document smpctl build attached to p.
func sbomDoc(t *testing.T, p *image.Pushed) []byte {
	t.Helper()
	img, err := remote.Image(digestOf(t, p.Repo, p.Platforms[0].SBOM))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("SBOM artifact: %d layers, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keyless(t *testing.T, tm root.TrustedMaterial, id signing.Identity) *signing.Policy {
	t.Helper()
	p, err := signing.KeylessPolicy(tm, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Keyless bundles made by a virtual sigstore instance (Fulcio CA, Rekor,
// TSA in process: sigstore-go's pkg/testing/ca), attached as cosign v3
// attaches them, verified with smpctl's policy: the right identity passes;
// a wrong identity, issuer or root, a signature of another digest, a
// missing or wrong SBOM attestation fail.
func TestKeylessBundlesFromAVirtualSigstore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host := imagetest.Registry(t)
	p := pushed(t, host, "keyless")
	q := pushed(t, host, "keyless-other")
	pd, qd := digestOf(t, p.Repo, p.Digest), digestOf(t, q.Repo, q.Digest)
	vs := sigstoretest.New(t)
	right := signing.Identity{Subject: sigstoretest.Identity, Issuer: sigstoretest.Issuer}

	// Before signing: nothing to verify.
	if _, err := signing.VerifyPolicy(ctx, pd, keyless(t, vs.TrustedRoot(t, false), right), imageref.Access{}); !errors.Is(err, signing.ErrNoSignature) {
		t.Fatalf("verify before signing: %v, want ErrNoSignature", err)
	}

	vs.Sign(t, pd, sigstoretest.Identity, sigstoretest.Issuer)
	vs.AttestSBOM(t, digestOf(t, p.Repo, p.Platforms[0].Digest), sigstoretest.Identity, sigstoretest.Issuer, sbomDoc(t, p))

	// The trusted root as the CLI reads it: JSON, written and parsed back.
	tr, err := signing.LoadTrustedRoot(vs.TrustedRootFile(t, false))
	if err != nil {
		t.Fatal(err)
	}
	got, err := signing.VerifyPolicy(ctx, pd, keyless(t, tr, right), imageref.Access{})
	if err != nil {
		t.Fatalf("verify a keyless-signed image with its identity: %v", err)
	}
	if !strings.Contains(got.Signer, sigstoretest.Identity) || len(got.Platforms) != 1 ||
		got.Platforms[0].Kind != "CycloneDX attestation" || got.Platforms[0].Component != "healthsvc" {
		t.Fatalf("verified %+v", got)
	}
	byRegexp := signing.Identity{SubjectRegexp: `^https://github\.com/smp/delivery/\.github/workflows/cd\.yml@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+$`, Issuer: sigstoretest.Issuer}
	if _, err := signing.VerifyPolicy(ctx, pd, keyless(t, tr, byRegexp), imageref.Access{}); err != nil {
		t.Errorf("verify with an identity regexp: %v", err)
	}

	// Bound to the repository and branch the signing workflow ran for.
	fromService := right
	fromService.SourceRepository, fromService.SourceRef = sigstoretest.SourceRepository, sigstoretest.SourceRef
	if _, err := signing.VerifyPolicy(ctx, pd, keyless(t, tr, fromService), imageref.Access{}); err != nil {
		t.Errorf("verify with the source repository and ref: %v", err)
	}
	otherRepo, otherRef := fromService, fromService
	otherRepo.SourceRepository = "https://github.com/smp/payment-svc"
	otherRef.SourceRef = "refs/heads/feature"

	fails := []struct {
		name string
		tm   root.TrustedMaterial
		id   signing.Identity
		want string
	}{
		{"another workflow ref", tr, signing.Identity{Subject: "https://github.com/smp/delivery/.github/workflows/cd.yml@refs/heads/feature", Issuer: sigstoretest.Issuer}, "expected SAN value"},
		{"a regexp of another organisation", tr, signing.Identity{SubjectRegexp: `^https://github\.com/other/`, Issuer: sigstoretest.Issuer}, "SAN"},
		{"another source repository", tr, otherRepo, `expected SourceRepositoryURI to be "https://github.com/smp/payment-svc"`},
		{"another source ref", tr, otherRef, `expected SourceRepositoryRef to be "refs/heads/feature"`},
		{"another issuer", tr, signing.Identity{Subject: sigstoretest.Identity, Issuer: "https://accounts.google.com"}, "issuer"},
		{"another sigstore instance's root", sigstoretest.New(t).TrustedRoot(t, false), right, "log inclusion"},
		{"a root that demands certificate timestamps", vs.TrustedRoot(t, true), right, "certificate timestamp"},
	}
	for _, tc := range fails {
		_, err := signing.VerifyPolicy(ctx, pd, keyless(t, tc.tm, tc.id), imageref.Access{})
		t.Logf("%s: %v", tc.name, err)
		if !errors.Is(err, signing.ErrBadSignature) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadSignature mentioning %q", tc.name, err, tc.want)
		}
	}

	pol := keyless(t, tr, right)
	// p's signature attached to q signs p's digest, not q's.
	sigstoretest.Attach(t, qd, vs.Bundle(t, sigstoretest.Identity, sigstoretest.Issuer, sigstoretest.Statement(t, pd, signing.SignPredicateType, nil)), signing.SignPredicateType)
	if _, err := signing.VerifyPolicy(ctx, qd, pol, imageref.Access{}); !errors.Is(err, signing.ErrBadSignature) || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("verify q with p's signature: %v, want ErrBadSignature", err)
	}
	// A CycloneDX attestation is not a signature of the image.
	r := pushed(t, host, "keyless-attested-only")
	rd := digestOf(t, r.Repo, r.Digest)
	vs.AttestSBOM(t, rd, sigstoretest.Identity, sigstoretest.Issuer, sbomDoc(t, r))
	if _, err := signing.VerifyPolicy(ctx, rd, pol, imageref.Access{}); !errors.Is(err, signing.ErrBadSignature) || !strings.Contains(err.Error(), "not "+signing.SignPredicateType) {
		t.Errorf("verify an image with an attestation and no signature: %v, want ErrBadSignature", err)
	}

	// q signed, its SBOM neither signed nor attested: fails.
	vs.Sign(t, qd, sigstoretest.Identity, sigstoretest.Issuer)
	if _, err := signing.VerifyPolicy(ctx, qd, pol, imageref.Access{}); !errors.Is(err, signing.ErrNoSBOM) {
		t.Fatalf("verify with no signed SBOM: %v, want ErrNoSBOM", err)
	}
	// An attestation of p's SBOM on q describes another binary: fails.
	vs.AttestSBOM(t, digestOf(t, q.Repo, q.Platforms[0].Digest), sigstoretest.Identity, sigstoretest.Issuer, sbomDoc(t, p))
	if _, err := signing.VerifyPolicy(ctx, qd, pol, imageref.Access{}); !errors.Is(err, signing.ErrNoSBOM) || !strings.Contains(err.Error(), "describes a binary") {
		t.Fatalf("verify with another image's SBOM attested: %v, want ErrNoSBOM", err)
	}
	// An attestation by another identity does not count either.
	vs.AttestSBOM(t, digestOf(t, q.Repo, q.Platforms[0].Digest), "https://github.com/smp/delivery/.github/workflows/cd.yml@refs/heads/feature", sigstoretest.Issuer, sbomDoc(t, q))
	if _, err := signing.VerifyPolicy(ctx, qd, pol, imageref.Access{}); !errors.Is(err, signing.ErrNoSBOM) {
		t.Fatalf("verify with an SBOM attested by another identity: %v, want ErrNoSBOM", err)
	}
	// What the CD workflow does: cosign sign on the SBOM referrer itself.
	vs.Sign(t, digestOf(t, q.Repo, q.Platforms[0].SBOM), sigstoretest.Identity, sigstoretest.Issuer)
	got, err = signing.VerifyPolicy(ctx, qd, pol, imageref.Access{})
	if err != nil {
		t.Fatalf("verify with a keyless-signed SBOM referrer: %v", err)
	}
	if got.Platforms[0].Kind != "signed SBOM referrer" || got.Platforms[0].SBOM != q.Repo+"@"+q.Platforms[0].SBOM {
		t.Errorf("verified %+v, want q's SBOM referrer", got.Platforms[0])
	}

	// A key policy does not accept a keyless signature.
	_, pub := keys(t)
	v, _ := signing.LoadVerifier(pub)
	if _, err := signing.Verify(ctx, pd, v, imageref.Access{}); !errors.Is(err, signing.ErrBadSignature) || !strings.Contains(err.Error(), "expected key signature") {
		t.Errorf("verify a keyless signature with a key: %v, want ErrBadSignature", err)
	}
}

// Bundles signed with a key pair (cosign v3's default format with --key)
// verify with the public key, and only with it.
func TestKeyBundles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host := imagetest.Registry(t)
	p := pushed(t, host, "key-bundle")
	pd := digestOf(t, p.Repo, p.Digest)
	priv, pub := keys(t)
	signer, err := signing.LoadSigner(priv, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	sigstoretest.Attach(t, pd, sigstoretest.KeyBundle(t, signer, sigstoretest.Statement(t, pd, signing.SignPredicateType, nil)), signing.SignPredicateType)
	plat := digestOf(t, p.Repo, p.Platforms[0].Digest)
	sigstoretest.Attach(t, plat, sigstoretest.KeyBundle(t, signer, sigstoretest.Statement(t, plat, signing.CycloneDXPredicateType, sbomDoc(t, p))), signing.CycloneDXPredicateType)

	v, _ := signing.LoadVerifier(pub)
	got, err := signing.Verify(ctx, pd, v, imageref.Access{})
	if err != nil {
		t.Fatalf("verify a key-signed bundle: %v", err)
	}
	if got.Signer != "key" || got.Platforms[0].Kind != "CycloneDX attestation" {
		t.Errorf("verified %+v", got)
	}
	_, otherPub := keys(t)
	other, _ := signing.LoadVerifier(otherPub)
	if _, err := signing.Verify(ctx, pd, other, imageref.Access{}); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("verify with another key: %v, want ErrBadSignature", err)
	}
	// Keyless policy: a key signature has no certificate to match.
	vs := sigstoretest.New(t)
	pol := keyless(t, vs.TrustedRoot(t, false), signing.Identity{Subject: sigstoretest.Identity, Issuer: sigstoretest.Issuer})
	if _, err := signing.VerifyPolicy(ctx, pd, pol, imageref.Access{}); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("verify a key signature keylessly: %v, want ErrBadSignature", err)
	}
}

func TestKeylessPolicyInputs(t *testing.T) {
	t.Parallel()
	tr := sigstoretest.New(t).TrustedRoot(t, false)
	for _, id := range []signing.Identity{
		{Issuer: sigstoretest.Issuer},
		{Subject: "a", SubjectRegexp: "b", Issuer: sigstoretest.Issuer},
		{Subject: sigstoretest.Identity},
		{SubjectRegexp: "(", Issuer: sigstoretest.Issuer},
	} {
		if _, err := signing.KeylessPolicy(tr, id); !errors.Is(err, signing.ErrBadPolicy) {
			t.Errorf("KeylessPolicy(%+v): %v, want ErrBadPolicy", id, err)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(bad, []byte(`{"mediaType": "application/json"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{bad, filepath.Join(dir, "missing.json")} {
		if _, err := signing.LoadTrustedRoot(path); !errors.Is(err, signing.ErrBadPolicy) {
			t.Errorf("LoadTrustedRoot(%s): %v, want ErrBadPolicy", path, err)
		}
	}
}

// Without --trusted-root smpctl asks sigstore's TUF repository; a mirror
// that does not answer (a local server that fails every request, standing
// in for no network) is a clear failure, not a pass and not a hang.
func TestTrustedRootFromAnUnreachableTUFMirror(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	_, err := signing.FetchTrustedRoot(context.Background(), signing.TUF{Mirror: down.URL, CacheDir: t.TempDir()})
	if !errors.Is(err, signing.ErrNoTrustedRoot) || !strings.Contains(err.Error(), "--trusted-root") || !strings.Contains(err.Error(), down.URL) {
		t.Fatalf("fetch from a mirror that is down: %v, want ErrNoTrustedRoot naming the mirror and --trusted-root", err)
	}
}
