package signing

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

// What cosign v3 writes by default: a sigstore bundle (protobuf bundle
// v0.3, JSON) as the only layer of an OCI manifest whose subject is the
// signed digest, found through the referrers API. Both `cosign sign` and
// `cosign attest` put a DSSE envelope around an in-toto statement whose
// subject is the digest; the predicate type tells a signature from an
// attestation.
const (
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// SignPredicateType is the predicate of `cosign sign` in bundle format.
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// CycloneDXPredicateType is the predicate of `cosign attest --type cyclonedx`.
	CycloneDXPredicateType = "https://cyclonedx.org/bom"
	// BundlePredicateAnnotation is cosign's manifest annotation naming the
	// bundle's predicate type (a hint only: the signed statement decides).
	BundlePredicateAnnotation = "dev.sigstore.bundle.predicateType"

	emptyMediaType = "application/vnd.oci.empty.v1+json"
)

// attached is one sigstore bundle referrer of a digest.
type attached struct {
	ref    name.Digest // the referrer manifest
	bundle *bundle.Bundle
	err    error // why it could not be read
}

// attachedBundles lists the sigstore bundles attached to d.
func attachedBundles(d name.Digest, opts []remote.Option) ([]attached, error) {
	idx, err := remote.Referrers(d, opts...)
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s: %w", d, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []attached
	for _, desc := range m.Manifests {
		// cosign sets the manifest's artifactType and an empty config; a
		// registry that reports the config's media type instead
		// (go-containerregistry's pkg/registry does) lists the empty one.
		if desc.ArtifactType != BundleMediaType && desc.ArtifactType != emptyMediaType {
			continue
		}
		ref := d.Context().Digest(desc.Digest.String())
		b, err := readBundle(ref, opts)
		if err != nil {
			out = append(out, attached{ref: ref, err: err})
			continue
		}
		out = append(out, attached{ref: ref, bundle: b})
	}
	return out, nil
}

func readBundle(ref name.Digest, opts []remote.Option) (*bundle.Bundle, error) {
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ref.DigestStr(), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ref.DigestStr(), err)
	}
	for _, l := range m.Layers {
		if !strings.HasPrefix(string(l.MediaType), "application/vnd.dev.sigstore.bundle") {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, err
		}
		raw, err := readAll(layer)
		if err != nil {
			return nil, fmt.Errorf("read bundle of %s: %w", ref.DigestStr(), err)
		}
		var b bundle.Bundle
		if err := b.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("%s: not a sigstore bundle: %w", ref.DigestStr(), err)
		}
		return &b, nil
	}
	return nil, fmt.Errorf("%s: no sigstore bundle layer", ref.DigestStr())
}

// verifyBundle checks b under p for the artifact d: the signature, the
// certificate or key, the log entry and timestamps, that the signed in-toto
// statement names d as its subject, and that its predicate type is want.
func (p *Policy) verifyBundle(b *bundle.Bundle, d name.Digest, want string) (*verify.VerificationResult, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(h.Hex)
	if err != nil {
		return nil, err
	}
	if b.GetDsseEnvelope() == nil {
		return nil, fmt.Errorf("a message signature, not a DSSE in-toto statement about the digest")
	}
	res, err := p.bundles.Verify(b, verify.NewPolicy(verify.WithArtifactDigest(h.Algorithm, raw), p.identity))
	if err != nil {
		return nil, err
	}
	if res.Statement == nil {
		return nil, fmt.Errorf("no in-toto statement")
	}
	if got := res.Statement.GetPredicateType(); got != want {
		return nil, fmt.Errorf("a %s statement, not %s", got, want)
	}
	return res, nil
}

// signer describes who signed, for the output.
func signer(res *verify.VerificationResult) string {
	if res.Signature != nil && res.Signature.Certificate != nil {
		c := res.Signature.Certificate
		return fmt.Sprintf("keyless %s (issuer %s)", c.SubjectAlternativeName, c.Issuer)
	}
	return "key"
}

// verifyBundleSignature looks for a bundle referrer of d that p accepts as
// a signature of d (`cosign sign`). It returns who signed, whether any bundle
// was there at all, and why each one failed.
func (p *Policy) verifyBundleSignature(d name.Digest, opts []remote.Option) (who string, found bool, reasons []string, err error) {
	bs, err := attachedBundles(d, opts)
	if err != nil {
		return "", false, nil, err
	}
	for _, a := range bs {
		if a.err != nil {
			reasons = append(reasons, "bundle "+a.err.Error())
			continue
		}
		res, err := p.verifyBundle(a.bundle, d, SignPredicateType)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("bundle %s: %v", a.ref.DigestStr(), err))
			continue
		}
		return signer(res), true, nil, nil
	}
	return "", len(bs) > 0, reasons, nil
}

// cycloneDXAttestations returns the CycloneDX documents of the bundle
// referrers of d that p accepts as attestations about d (`cosign attest
// --type cyclonedx`), and why the others failed.
func (p *Policy) cycloneDXAttestations(d name.Digest, opts []remote.Option) (docs []attestedSBOM, reasons []string, err error) {
	bs, err := attachedBundles(d, opts)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range bs {
		if a.err != nil {
			reasons = append(reasons, "bundle "+a.err.Error())
			continue
		}
		res, err := p.verifyBundle(a.bundle, d, CycloneDXPredicateType)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("attestation %s: %v", a.ref.DigestStr(), err))
			continue
		}
		doc, err := protojson.Marshal(res.Statement.GetPredicate())
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("attestation %s: predicate: %v", a.ref.DigestStr(), err))
			continue
		}
		docs = append(docs, attestedSBOM{ref: a.ref, doc: doc})
	}
	return docs, reasons, nil
}

type attestedSBOM struct {
	ref name.Digest
	doc []byte
}
