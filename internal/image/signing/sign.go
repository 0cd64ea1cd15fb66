package signing

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/sbom"

	"github.com/smp/delivery/internal/fault"
)

// cosign's names for the signature layer.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	SignatureAnnotation    = "dev.cosignproject.cosign/signature"
)

// Sentinel errors for failed verifications (exit 1).
var (
	ErrNoSignature  = fault.Refusedf("no signature")
	ErrBadSignature = fault.Refusedf("signature does not verify")
	ErrNoSBOM       = fault.Refusedf("no signed SBOM")
	ErrNotFound     = fault.Refusedf("image not found")
)

// SignatureTag is where cosign keeps the signatures of digest d.
func SignatureTag(repo name.Repository, d v1.Hash) name.Tag {
	return repo.Tag(d.Algorithm + "-" + d.Hex + ".sig")
}

// resolve turns a tag or digest reference into the digest it names now.
func resolve(ref name.Reference, opts []remote.Option) (*remote.Descriptor, error) {
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		if imageref.NotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
		}
		return nil, err
	}
	return desc, nil
}

// signDigest adds a signature of d to its .sig manifest, keeping the
// signatures already there (cosign appends too).
func signDigest(d name.Digest, signer signature.Signer, opts []remote.Option) error {
	body, err := json.Marshal(payload.Cosign{Image: d})
	if err != nil {
		return fmt.Errorf("signature payload: %w", err)
	}
	sig, err := signer.SignMessage(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sign %s: %w", d, err)
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return err
	}
	tag := SignatureTag(d.Context(), h)
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if existing, err := remote.Image(tag, opts...); err == nil {
		base = existing
	} else {
		if !imageref.NotFound(err) {
			return fmt.Errorf("read %s: %w", tag, err)
		}
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(body, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return fmt.Errorf("signature manifest: %w", err)
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return fmt.Errorf("push %s: %w", tag, err)
	}
	return nil
}

// verifyDigest checks that some signature of d satisfies p and names d:
// with a key, one in cosign's .sig format or a sigstore bundle; keyless, a
// sigstore bundle. It returns who signed.
func verifyDigest(d name.Digest, p *Policy, opts []remote.Option) (string, error) {
	var reasons []string
	found := false
	if p.key != nil {
		present, why, err := verifySigTag(d, p.key, opts)
		if err != nil {
			return "", err
		}
		if present && len(why) == 0 {
			return "key", nil
		}
		found = found || present
		reasons = append(reasons, why...)
	}
	who, present, why, err := p.verifyBundleSignature(d, opts)
	if err != nil {
		return "", err
	}
	if who != "" {
		return who, nil
	}
	found = found || present
	reasons = append(reasons, why...)
	if !found {
		h, _ := v1.NewHash(d.DigestStr())
		return "", fmt.Errorf("%w: %s has neither a cosign signature (%s) nor a sigstore bundle referrer: sign it with smpctl sign --key cosign.key, or cosign sign (keyless in GitHub Actions)",
			ErrNoSignature, d, SignatureTag(d.Context(), h).TagStr())
	}
	return "", fmt.Errorf("%w by %s: %s (%s)", ErrBadSignature, p.what, d, strings.Join(reasons, "; "))
}

// verifySigTag checks the signatures in d's .sig manifest with v: whether
// the manifest exists, and why each signature failed (none: one verified).
func verifySigTag(d name.Digest, v signature.Verifier, opts []remote.Option) (present bool, reasons []string, err error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return false, nil, err
	}
	tag := SignatureTag(d.Context(), h)
	img, err := remote.Image(tag, opts...)
	if err != nil {
		if imageref.NotFound(err) {
			return false, nil, nil
		}
		return false, nil, fmt.Errorf("read %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return false, nil, err
	}
	for _, l := range m.Layers {
		if l.MediaType != SimpleSigningMediaType {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation])
		if err != nil {
			reasons = append(reasons, "undecodable signature")
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return false, nil, err
		}
		body, err := readAll(layer)
		if err != nil {
			return false, nil, err
		}
		if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)); err != nil {
			reasons = append(reasons, "signed by another key")
			continue
		}
		var p payload.SimpleContainerImage
		if err := json.Unmarshal(body, &p); err != nil || p.Critical.Type != payload.CosignSignatureType {
			reasons = append(reasons, "not a cosign payload")
			continue
		}
		if p.Critical.Image.DockerManifestDigest != d.DigestStr() {
			reasons = append(reasons, "signs digest "+p.Critical.Image.DockerManifestDigest)
			continue
		}
		return true, nil, nil
	}
	if len(reasons) == 0 {
		reasons = append(reasons, tag.TagStr()+" has no signature layers")
	}
	return true, reasons, nil
}

func readAll(l v1.Layer) ([]byte, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// platformImages lists the digests that carry SBOMs: the image itself, or
// each image of an index.
func platformImages(desc *remote.Descriptor) ([]v1.Descriptor, error) {
	if !desc.MediaType.IsIndex() {
		return []v1.Descriptor{desc.Descriptor}, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return m.Manifests, nil
}

// sboms lists the SBOM referrers of d.
func sboms(d name.Digest, opts []remote.Option) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(d, append(opts, remote.WithFilter("artifactType", sbom.MediaType))...)
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s: %w", d, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, r := range m.Manifests {
		if r.ArtifactType == sbom.MediaType {
			out = append(out, r)
		}
	}
	return out, nil
}

// Signed is what Sign signed.
type Signed struct {
	Image string   `json:"image"` // REPO@sha256:…
	SBOMs []string `json:"sboms"` // REPO@sha256:… of each signed SBOM
}

// Sign signs the image ref names (resolved to its digest first: a tag
// could move between signing and deploying) and every SBOM attached to it
// or to its platform images.
func Sign(ctx context.Context, ref name.Reference, signer signature.Signer, acc imageref.Access) (*Signed, error) {
	opts := acc.Options(ctx)
	desc, err := resolve(ref, opts)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", ref, imageref.Explain(err, ref.Context().Registry, acc.Attempts))
	}
	repo := ref.Context()
	top := repo.Digest(desc.Digest.String())
	out := &Signed{Image: top.String()}
	plats, err := platformImages(desc)
	if err != nil {
		return nil, err
	}
	for _, p := range plats {
		refs, err := sboms(repo.Digest(p.Digest.String()), opts)
		if err != nil {
			return nil, err
		}
		if len(refs) == 0 {
			return nil, fmt.Errorf("%w: %s has no SBOM referrer: build it with smpctl build --push, which attaches one", ErrNoSBOM, repo.Digest(p.Digest.String()))
		}
		for _, s := range refs {
			sd := repo.Digest(s.Digest.String())
			if err := signDigest(sd, signer, opts); err != nil {
				return nil, err
			}
			out.SBOMs = append(out.SBOMs, sd.String())
		}
	}
	// The image last: a signed image always has signed SBOMs.
	if err := signDigest(top, signer, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// Verified is what Verify checked.
type Verified struct {
	Image     string         `json:"image"`
	Signer    string         `json:"signer"` // "key", or "keyless SAN (issuer ISSUER)"
	Platforms []VerifiedSBOM `json:"platforms"`
}

// VerifiedSBOM is the signed SBOM found for one platform image.
type VerifiedSBOM struct {
	Image        string `json:"image"`
	SBOM         string `json:"sbom"` // the SBOM referrer, or the attestation that carries it
	Kind         string `json:"kind"` // "signed SBOM referrer" or "CycloneDX attestation"
	Component    string `json:"component"`
	Version      string `json:"version"`
	BinarySHA256 string `json:"binarySha256"`
}

// Verify checks the image with a public key; see VerifyPolicy.
func Verify(ctx context.Context, ref name.Reference, v signature.Verifier, acc imageref.Access) (*Verified, error) {
	p, err := KeyPolicy(v)
	if err != nil {
		return nil, err
	}
	return VerifyPolicy(ctx, ref, p, acc)
}

// VerifyPolicy checks that the image carries a signature p accepts and
// that each platform image has an SBOM signed under p that describes the
// very binary at /app/server (its SHA-256 matches): an SBOM referrer with
// its own signature, or a CycloneDX attestation whose subject is the
// platform image.
func VerifyPolicy(ctx context.Context, ref name.Reference, p *Policy, acc imageref.Access) (*Verified, error) {
	opts := acc.Options(ctx)
	desc, err := resolve(ref, opts)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", ref, imageref.Explain(err, ref.Context().Registry, acc.Attempts))
	}
	repo := ref.Context()
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		return nil, fmt.Errorf("%w: registry returned %s for %s", ErrBadSignature, desc.Digest, d)
	}
	top := repo.Digest(desc.Digest.String())
	who, err := verifyDigest(top, p, opts)
	if err != nil {
		return nil, err
	}
	out := &Verified{Image: top.String(), Signer: who}
	plats, err := platformImages(desc)
	if err != nil {
		return nil, err
	}
	for _, pl := range plats {
		pd := repo.Digest(pl.Digest.String())
		got, err := verifySBOM(pd, p, opts)
		if err != nil {
			return nil, err
		}
		out.Platforms = append(out.Platforms, *got)
	}
	return out, nil
}

func verifySBOM(pd name.Digest, p *Policy, opts []remote.Option) (*VerifiedSBOM, error) {
	refs, err := sboms(pd, opts)
	if err != nil {
		return nil, err
	}
	binSum, err := serverSHA256(pd, opts)
	if err != nil {
		return nil, err
	}
	// describes checks that doc records the binary the image holds.
	describes := func(from name.Digest, kind string, doc []byte) (*VerifiedSBOM, string) {
		bom, err := sbom.Parse(doc)
		if err != nil {
			return nil, from.DigestStr() + ": " + err.Error()
		}
		if got := sbom.BinarySHA256(bom); got != binSum {
			return nil, fmt.Sprintf("%s describes a binary with SHA-256 %s, the image holds %s", from.DigestStr(), got, binSum)
		}
		return &VerifiedSBOM{Image: pd.String(), SBOM: from.String(), Kind: kind, Component: bom.Metadata.Component.Name,
			Version: bom.Metadata.Component.Version, BinarySHA256: binSum}, ""
	}
	var reasons []string
	for _, s := range refs {
		sd := pd.Context().Digest(s.Digest.String())
		if _, err := verifyDigest(sd, p, opts); err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		img, err := remote.Image(sd, opts...)
		if err != nil {
			return nil, fmt.Errorf("read SBOM %s: %w", sd, err)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			reasons = append(reasons, sd.DigestStr()+": not a single-layer SBOM artifact")
			continue
		}
		doc, err := readAll(layers[0])
		if err != nil {
			return nil, err
		}
		got, why := describes(sd, "signed SBOM referrer", doc)
		if got != nil {
			return got, nil
		}
		reasons = append(reasons, why)
	}
	atts, why, err := p.cycloneDXAttestations(pd, opts)
	if err != nil {
		return nil, err
	}
	reasons = append(reasons, why...)
	for _, a := range atts {
		got, why := describes(a.ref, "CycloneDX attestation", a.doc)
		if got != nil {
			return got, nil
		}
		reasons = append(reasons, why)
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no CycloneDX referrer and no CycloneDX attestation")
	}
	return nil, fmt.Errorf("%w: %s: %s", ErrNoSBOM, pd, strings.Join(reasons, "; "))
}

// serverSHA256 hashes /app/server as the image's layers hold it (the last
// layer that has it wins, as in the running container).
func serverSHA256(d name.Digest, opts []remote.Option) (string, error) {
	img, err := remote.Image(d, opts...)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", d, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	for i := len(layers) - 1; i >= 0; i-- {
		rc, err := layers[i].Uncompressed()
		if err != nil {
			return "", err
		}
		sum, found, err := hashEntry(rc, "app/server")
		_ = rc.Close()
		if err != nil {
			return "", fmt.Errorf("read layer of %s: %w", d, err)
		}
		if found {
			return sum, nil
		}
	}
	return "", fmt.Errorf("%w: %s has no /app/server", ErrNoSBOM, d)
}

func hashEntry(r io.Reader, path string) (string, bool, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		if strings.TrimPrefix(h.Name, "/") != path {
			continue
		}
		s := sha256.New()
		if _, err := io.Copy(s, tr); err != nil { //nolint:gosec // the size is bounded by the registry's layer
			return "", false, err
		}
		return hex.EncodeToString(s.Sum(nil)), true, nil
	}
}
