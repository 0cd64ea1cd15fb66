package signing_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/signing"
	"github.com/smp/delivery/internal/testkit/imagetest"
)

func pushed(t *testing.T, host, marker string) *image.Pushed {
	t.Helper()
	dir, _ := imagetest.ServiceRepo(t, marker)
	r, err := imageref.Repository(host + "/smp/health")
	if err != nil {
		t.Fatal(err)
	}
	a, err := image.Build(context.Background(), image.BuildOptions{Dir: dir, Repo: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Cleanup)
	p, err := image.Push(context.Background(), a, imageref.Access{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keys(t *testing.T) (priv, pub []byte) {
	t.Helper()
	priv, pub, err := signing.GenerateKeyPair([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestSignThenVerifyPassesAndTamperingFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host := imagetest.Registry(t)
	p := pushed(t, host, "signed")
	priv, pub := keys(t)
	signer, err := signing.LoadSigner(priv, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := signing.LoadVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	byTag, _ := imageref.Reference(p.Repo + ":" + p.Tag)
	byDigest, _ := imageref.Reference(p.Repo + "@" + p.Digest)

	// Before signing: nothing to verify.
	if _, err := signing.Verify(ctx, byDigest, verifier, imageref.Access{}); !errors.Is(err, signing.ErrNoSignature) {
		t.Fatalf("verify before signing: %v, want ErrNoSignature", err)
	}
	signed, err := signing.Sign(ctx, byTag, signer, imageref.Access{})
	if err != nil {
		t.Fatal(err)
	}
	if signed.Image != p.Repo+"@"+p.Digest || len(signed.SBOMs) != 1 {
		t.Fatalf("signed %+v, want the digest %s and one SBOM", signed, p.Digest)
	}
	got, err := signing.Verify(ctx, byDigest, verifier, imageref.Access{})
	if err != nil {
		t.Fatalf("verify a signed image: %v", err)
	}
	if len(got.Platforms) != 1 || got.Platforms[0].Component != "healthsvc" || len(got.Platforms[0].BinarySHA256) != 64 {
		t.Fatalf("verified %+v", got)
	}

	// A wrong key fails.
	_, otherPub := keys(t)
	other, _ := signing.LoadVerifier(otherPub)
	if _, err := signing.Verify(ctx, byDigest, other, imageref.Access{}); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("verify with another key: %v, want ErrBadSignature", err)
	}

	// A tampered image (another image pushed under the same tag) fails.
	q := pushed(t, host, "tampered")
	r, _ := imageref.Repository(p.Repo)
	qd, _ := imageref.Digest(q.Repo + "@" + q.Digest)
	desc, err := remote.Get(qd)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(r.Tag(p.Tag), desc); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Verify(ctx, byTag, verifier, imageref.Access{}); !errors.Is(err, signing.ErrNoSignature) {
		t.Errorf("verify a re-pointed tag: %v, want ErrNoSignature", err)
	}

	// A signature copied onto another digest does not verify it.
	sig, err := remote.Get(signing.SignatureTag(r, mustHash(t, p.Digest)))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(signing.SignatureTag(r, mustHash(t, q.Digest)), sig); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Verify(ctx, qd, verifier, imageref.Access{}); !errors.Is(err, signing.ErrBadSignature) || !strings.Contains(err.Error(), "signs digest") {
		t.Errorf("verify with a replayed signature: %v, want ErrBadSignature", err)
	}

	// Signing q for real makes it pass; removing its SBOM's signature makes
	// it fail again: the image signature alone is not enough.
	signedQ, err := signing.Sign(ctx, qd, signer, imageref.Access{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Verify(ctx, qd, verifier, imageref.Access{}); err != nil {
		t.Fatalf("after signing q: %v", err)
	}
	sbomDigest := signedQ.SBOMs[0][strings.Index(signedQ.SBOMs[0], "@")+1:]
	if err := remote.Delete(signing.SignatureTag(r, mustHash(t, sbomDigest))); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Verify(ctx, qd, verifier, imageref.Access{}); !errors.Is(err, signing.ErrNoSBOM) {
		t.Errorf("verify with an unsigned SBOM: %v, want ErrNoSBOM", err)
	}
}

func TestKeysAreCheckedBeforeUse(t *testing.T) {
	t.Parallel()
	priv, pub := keys(t)
	if _, err := signing.LoadSigner(priv, []byte("wrong")); !errors.Is(err, signing.ErrBadKey) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := signing.LoadSigner(pub, []byte("s3cret")); !errors.Is(err, signing.ErrBadKey) || !strings.Contains(err.Error(), ".pub") {
		t.Errorf("public key as private: %v", err)
	}
	if _, err := signing.LoadVerifier([]byte("not pem")); !errors.Is(err, signing.ErrBadKey) {
		t.Errorf("garbage public key: %v", err)
	}
	if _, err := signing.LoadSigner([]byte("not pem"), nil); !errors.Is(err, signing.ErrBadKey) {
		t.Errorf("garbage private key: %v", err)
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
