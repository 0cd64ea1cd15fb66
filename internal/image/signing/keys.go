// Package signing signs images and their SBOMs and verifies both, in
// cosign's own formats so the cosign CLI reads what smpctl writes and the
// other way round:
//
//   - keys: ECDSA P-256; the private key is PKCS#8, encrypted with
//     scrypt + secretbox (go-securesystemslib's encrypted package) in a PEM
//     block "ENCRYPTED SIGSTORE PRIVATE KEY" — what `cosign generate-key-pair`
//     writes; the public key is PKIX PEM. The password comes from
//     COSIGN_PASSWORD, as with cosign.
//
//   - signatures: a "simple signing" payload (sigstore's payload.Cosign)
//     signed with sigstore's signature package, stored as a layer of the
//     manifest tagged sha256-<hex>.sig in the image's repository, the
//     signature in the layer annotation dev.cosignproject.cosign/signature.
//
//   - verification also reads sigstore bundles (protobuf bundle v0.3, what
//     cosign v3 writes by default), attached as OCI referrers of the signed
//     digest, with sigstore-go: by key, or keyless — a Fulcio certificate
//     chaining to a sigstore trusted root, naming an identity and OIDC
//     issuer, its signature in a Rekor log of that root.
//
// What it does not do: sign keylessly or write bundles. In GitHub Actions
// the cosign CLI signs with the workflow's OIDC token (cd.yml); see
// docs/images.md.
package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/smp/delivery/internal/fault"
)

// PEM block types of cosign private keys (current and legacy).
const (
	sigstorePrivateKey = "ENCRYPTED SIGSTORE PRIVATE KEY"
	cosignPrivateKey   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// ErrBadKey marks a key file that cannot be used (bad input, exit 2).
var ErrBadKey = fault.Invalidf("unusable key")

// GenerateKeyPair returns a new cosign-compatible key pair: the encrypted
// private key and the public key, both PEM.
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal private key: %w", err)
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypt private key: %w", err)
	}
	pubPEM, err = cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: sigstorePrivateKey, Bytes: enc}), pubPEM, nil
}

// LoadSigner decrypts a cosign private key.
func LoadSigner(privPEM, password []byte) (signature.SignerVerifier, error) {
	block, _ := pem.Decode(privPEM)
	if block == nil {
		return nil, fmt.Errorf("%w: not a PEM file: give the cosign.key written by smpctl sign generate-key or cosign generate-key-pair", ErrBadKey)
	}
	if block.Type != sigstorePrivateKey && block.Type != cosignPrivateKey {
		return nil, fmt.Errorf("%w: PEM block %q is not an encrypted cosign private key (did you pass the .pub file?)", ErrBadKey, block.Type)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		return nil, fmt.Errorf("%w: decrypt private key: %w (is COSIGN_PASSWORD right?)", ErrBadKey, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parse private key: %w", ErrBadKey, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: private key is %T; smpctl signs with ECDSA keys", ErrBadKey, key)
	}
	return signature.LoadECDSASignerVerifier(ec, crypto.SHA256)
}

// LoadVerifier reads a PEM public key (cosign.pub).
func LoadVerifier(pubPEM []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: read public key: %w (give cosign.pub)", ErrBadKey, err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return v, nil
}
