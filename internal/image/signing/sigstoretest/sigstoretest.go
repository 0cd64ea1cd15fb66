// Package sigstoretest signs images keylessly for tests, against a
// virtual sigstore instance: a Fulcio CA, a Rekor log and a timestamp
// authority that live in the test process with real keys — Rekor and the
// TSA from sigstore-go's pkg/testing/ca VirtualSigstore, the Fulcio CA its
// own, issuing certificates shaped like the ones GitHub Actions gets (the
// public instances cannot be reached from tests, and no OIDC token exists
// outside GitHub Actions). The bundles it makes are real sigstore bundles
// v0.3 — certificates, DSSE signatures, Rekor entries with signed
// inclusion promises and proofs, RFC 3161 timestamps — attached the way
// cosign v3 attaches them: an OCI referrer of the signed digest, its one
// layer the bundle JSON.
package sigstoretest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/smp/delivery/internal/image/signing"
)

// GitHub Actions' identity for a reusable workflow run from a release tag,
// and its OIDC issuer: what Fulcio puts in the certificate of a keyless
// signature made by smp/delivery's cd.yml.
const (
	Identity = "https://github.com/smp/delivery/.github/workflows/cd.yml@refs/tags/v0.1.0"
	Issuer   = "https://token.actions.githubusercontent.com"
)

// Where the signed image was built, as GitHub Actions' Fulcio certificates
// record it (source repository URI and ref extensions).
const (
	SourceRepository = "https://github.com/smp/order-svc"
	SourceRef        = "refs/heads/main"
)

// Virtual is a virtual sigstore instance (Fulcio, Rekor, TSA) for tests.
// Rekor and the TSA are sigstore-go's; the Fulcio CA is its own so that
// certificates carry what Fulcio writes for GitHub Actions (a URI subject,
// the issuer and source repository extensions), which sigstore-go's
// virtual CA does not.
type Virtual struct {
	*ca.VirtualSigstore
	fulcio    *root.FulcioCertificateAuthority
	fulcioKey crypto.Signer
}

// New starts a virtual sigstore instance with fresh keys.
func New(t testing.TB) *Virtual {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return &Virtual{VirtualSigstore: vs, fulcioKey: interKey, fulcio: &root.FulcioCertificateAuthority{
		Root: rootCert, Intermediates: []*x509.Certificate{inter}, URI: "https://fulcio.virtual.test",
		ValidityPeriodStart: time.Now().Add(-time.Hour), ValidityPeriodEnd: time.Now().Add(2 * time.Hour),
	}}
}

// FulcioCertificateAuthorities is the instance's own Fulcio CA.
func (v *Virtual) FulcioCertificateAuthorities() []root.CertificateAuthority {
	return []root.CertificateAuthority{v.fulcio}
}

// Signer is who signs: the certificate's subject and issuer, and the
// repository and ref the workflow ran on.
type Signer struct {
	Identity, Issuer            string
	SourceRepository, SourceRef string
}

// leaf issues a 10-minute certificate for s, as Fulcio does for GitHub
// Actions: URI subject alternative name, issuer (OID .8, DER UTF8String),
// source repository URI (.12) and ref (.14).
func (v *Virtual) leaf(t testing.TB, s Signer) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.Identity)
	if err != nil {
		t.Fatal(err)
	}
	var exts []pkix.Extension
	for _, e := range []struct {
		oid   asn1.ObjectIdentifier
		value string
	}{{certificate.OIDIssuerV2, s.Issuer}, {certificate.OIDSourceRepositoryURI, s.SourceRepository}, {certificate.OIDSourceRepositoryRef, s.SourceRef}} {
		if e.value == "" {
			continue
		}
		der, err := asn1.MarshalWithParams(e.value, "utf8")
		if err != nil {
			t.Fatal(err)
		}
		exts = append(exts, pkix.Extension{Id: e.oid, Value: der})
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		URIs: []*url.URL{u}, ExtraExtensions: exts,
	}, v.fulcio.Intermediates[0], &key.PublicKey, v.fulcioKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TrustedRoot is the instance's trusted root. withCT adds its certificate
// transparency log, whose signed certificate timestamps the virtual Fulcio
// never embeds: a root that demands them rejects every certificate.
func (v *Virtual) TrustedRoot(t testing.TB, withCT bool) *root.TrustedRoot {
	t.Helper()
	var ct map[string]*root.TransparencyLog
	if withCT {
		ct = rawLogIDs(t, v.CTLogs())
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, v.FulcioCertificateAuthorities(), ct, v.TimestampingAuthorities(), rawLogIDs(t, v.RekorLogs()))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// rawLogIDs gives each log the ID a real trusted root has, the SHA-256 of
// its key: the virtual instance keeps that digest hex-encoded, which only
// works until the root is written as JSON and read back.
func rawLogIDs(t testing.TB, logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
	t.Helper()
	out := make(map[string]*root.TransparencyLog, len(logs))
	for id, l := range logs {
		raw, err := hex.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		c := *l
		c.ID = raw
		out[id] = &c
	}
	return out
}

// TrustedRootFile writes the trusted root as trusted_root.json in a new
// folder and returns its path.
func (v *Virtual) TrustedRootFile(t testing.TB, withCT bool) string {
	t.Helper()
	b, err := json.Marshal(v.TrustedRoot(t, withCT))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Statement is the in-toto statement cosign signs: subject the digest.
func Statement(t testing.TB, subject name.Digest, predicateType string, predicate json.RawMessage) []byte {
	t.Helper()
	h, err := v1.NewHash(subject.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	if predicate == nil {
		predicate = json.RawMessage("{}")
	}
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []map[string]any{{"digest": map[string]string{h.Algorithm: h.Hex}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Bundle signs statement keylessly as identity/issuer, built from
// SourceRepository at SourceRef.
func (v *Virtual) Bundle(t testing.TB, identity, issuer string, statement []byte) []byte {
	t.Helper()
	return v.BundleBy(t, Signer{Identity: identity, Issuer: issuer, SourceRepository: SourceRepository, SourceRef: SourceRef}, statement)
}

// BundleBy signs statement keylessly as s: a Fulcio certificate from the
// virtual CA, the DSSE envelope, a Rekor entry with its signed entry
// timestamp and inclusion proof, and an RFC 3161 timestamp.
func (v *Virtual) BundleBy(t testing.TB, s Signer, statement []byte) []byte {
	t.Helper()
	cert, key := v.leaf(t, s)
	sv, err := signature.LoadECDSASignerVerifier(key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	es, err := dsse.NewEnvelopeSigner(&sigdsse.SignerAdapter{SignatureSigner: sv, Pub: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	env, err := es.SignPayload(context.Background(), "application/vnd.in-toto+json", statement)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	tsr, err := v.TimestampResponse(sig)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := v.GenerateTlogEntry(cert, env, sig, time.Now().Unix(), true)
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, &protobundle.Bundle{
		MediaType: signing.BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:     &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}},
			TlogEntries: []*protorekor.TransparencyLogEntry{v.withPromise(t, entry)},
			TimestampVerificationData: &protobundle.TimestampVerificationData{
				Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}},
			},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: protoEnvelope(t, env)},
	})
}

// withPromise completes the log entry as Rekor returns it: its kind and
// the log's signed entry timestamp (the inclusion promise).
func (v *Virtual) withPromise(t testing.TB, e *tlog.Entry) *protorekor.TransparencyLogEntry {
	t.Helper()
	tle := e.TransparencyLogEntry()
	tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
	set, err := v.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       tle.GetLogIndex(),
		LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
	})
	if err != nil {
		t.Fatal(err)
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	return tle
}

// KeyBundle signs statement with a key pair, as `cosign sign --key
// --tlog-upload=false` does in bundle format: the public key's hint, no log
// entry, no timestamp.
func KeyBundle(t testing.TB, signer signature.SignerVerifier, statement []byte) []byte {
	t.Helper()
	pub, err := signer.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		t.Fatal(err)
	}
	hint := crypto.SHA256.New()
	hint.Write(der)
	const payloadType = "application/vnd.in-toto+json"
	sig, err := signer.SignMessage(bytes.NewReader(dsse.PAE(payloadType, statement)))
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, &protobundle.Bundle{
		MediaType: signing.BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: base64.StdEncoding.EncodeToString(hint.Sum(nil))}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: statement, PayloadType: payloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	})
}

func protoEnvelope(t testing.TB, e *dsse.Envelope) *protodsse.Envelope {
	t.Helper()
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	out := &protodsse.Envelope{Payload: payload, PayloadType: e.PayloadType}
	for _, s := range e.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			t.Fatal(err)
		}
		out.Signatures = append(out.Signatures, &protodsse.Signature{Sig: sig, Keyid: s.KeyID})
	}
	return out
}

func marshal(t testing.TB, b *protobundle.Bundle) []byte {
	t.Helper()
	raw, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	// Check it is a bundle sigstore-go accepts (v0.3 rules) before use.
	var check bundle.Bundle
	if err := check.UnmarshalJSON(raw); err != nil {
		t.Fatalf("the test made an invalid bundle: %v", err)
	}
	return raw
}

// Attach pushes bundleJSON as a referrer of subject, laid out as cosign
// v3 does (pkg/oci/remote WriteAttestationNewBundleFormat): empty config,
// artifact type and single layer the bundle media type, the predicate type
// in an annotation. It returns the referrer's digest.
func Attach(t testing.TB, subject name.Digest, bundleJSON []byte, predicateType string) name.Digest {
	t.Helper()
	ctx := context.Background()
	desc, err := remote.Head(subject, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	repo := subject.Context()
	config := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	layer := static.NewLayer(bundleJSON, signing.BundleMediaType)
	var descs []v1.Descriptor
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(repo, l, remote.WithContext(ctx)); err != nil {
			t.Fatal(err)
		}
		d, _ := l.Digest()
		s, _ := l.Size()
		mt, _ := l.MediaType()
		descs = append(descs, v1.Descriptor{MediaType: mt, Digest: d, Size: s})
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  signing.BundleMediaType,
		Config:        descs[0],
		Layers:        descs[1:],
		Subject:       &v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size},
		Annotations: map[string]string{
			"dev.sigstore.bundle.content":      "dsse-envelope",
			signing.BundlePredicateAnnotation:  predicateType,
			"org.opencontainers.image.created": "2026-11-01T00:00:00Z",
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	ref := repo.Digest(h.String())
	if err := remote.Put(ref, rawManifest{raw}, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	return ref
}

type rawManifest struct{ b []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// Sign attaches a keyless signature of d (`cosign sign` in bundle format).
func (v *Virtual) Sign(t testing.TB, d name.Digest, identity, issuer string) name.Digest {
	t.Helper()
	return Attach(t, d, v.Bundle(t, identity, issuer, Statement(t, d, signing.SignPredicateType, nil)), signing.SignPredicateType)
}

// AttestSBOM attaches a keyless CycloneDX attestation about d whose
// predicate is doc (`cosign attest --type cyclonedx --predicate doc`).
func (v *Virtual) AttestSBOM(t testing.TB, d name.Digest, identity, issuer string, doc []byte) name.Digest {
	t.Helper()
	return Attach(t, d, v.Bundle(t, identity, issuer, Statement(t, d, signing.CycloneDXPredicateType, doc)), signing.CycloneDXPredicateType)
}
