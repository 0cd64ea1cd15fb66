package signing

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/smp/delivery/internal/fault"
)

// ErrBadPolicy marks verification flags that cannot be used (bad input,
// exit 2): no identity, a regexp that does not compile, a trusted root that
// does not parse.
var ErrBadPolicy = fault.Invalidf("unusable verification policy")

// ErrNoTrustedRoot means sigstore's trusted root could not be fetched (a
// refused remote, exit 1).
var ErrNoTrustedRoot = fault.Refusedf("no trusted root")

// Policy says whose signatures Verify accepts: one public key, or a
// keyless (Fulcio certificate) identity under a trusted root.
type Policy struct {
	key      signature.Verifier // key mode: cosign's .sig format too
	bundles  *verify.Verifier   // sigstore bundles
	identity verify.PolicyOption
	what     string // for messages: "key" or "identity … issued by …"
}

// KeyPolicy accepts signatures made with the private half of v: in
// cosign's .sig format, and sigstore bundles (cosign v3's default). As with
// `cosign verify --key --insecure-ignore-tlog`, no transparency log is
// required: the key itself is the trust anchor, and smpctl verifies offline.
func KeyPolicy(v signature.Verifier) (*Policy, error) {
	key := root.NewExpiringKey(v, time.Time{}, time.Time{}) // no validity window: a key pair does not expire
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
	bv, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
	if err != nil {
		return nil, fmt.Errorf("bundle verifier: %w", err)
	}
	return &Policy{key: v, bundles: bv, identity: verify.WithKey(), what: "the given key"}, nil
}

// Identity is the keyless signer a Policy accepts: the certificate's
// subject alternative name (exact or a regexp) and the OIDC issuer that
// vouched for it. In GitHub Actions the subject is the URL of the workflow
// that signed (for a reusable workflow: the called workflow, at its ref) and
// the issuer https://token.actions.githubusercontent.com.
//
// SourceRepository and SourceRef, when set, must equal the certificate's
// source repository URI and ref extensions (OIDs 1.3.6.1.4.1.57264.1.12 and
// .14): where the signing workflow ran. They bind a signature made by a
// shared reusable workflow to the service repository and branch it ran for.
type Identity struct {
	Subject          string
	SubjectRegexp    string
	Issuer           string
	SourceRepository string // e.g. https://github.com/smp/order-svc
	SourceRef        string // e.g. refs/heads/main
}

// Validate says what is missing or wrong in id (ErrBadPolicy).
func (id Identity) Validate() error {
	if (id.Subject == "") == (id.SubjectRegexp == "") {
		return fmt.Errorf("%w: give exactly one of the certificate identity and the certificate identity regexp", ErrBadPolicy)
	}
	if id.Issuer == "" {
		return fault.Inputf("Issuer", "%w: the certificate OIDC issuer is required (in GitHub Actions: https://token.actions.githubusercontent.com)", ErrBadPolicy)
	}
	if id.SubjectRegexp != "" {
		if _, err := regexp.Compile(id.SubjectRegexp); err != nil {
			return fault.Inputf("SubjectRegexp", "%w: certificate identity regexp: %w", ErrBadPolicy, err)
		}
	}
	return nil
}

// KeylessPolicy accepts sigstore bundles whose Fulcio certificate chains
// to tm and names id, as cosign does: the signature must be in a
// transparency log of tm, the certificate checked at the time the log (or
// a timestamp authority of tm) vouches for, and — when tm lists
// certificate transparency logs, as sigstore's public root does — the
// certificate must carry a signed certificate timestamp from one of them.
func KeylessPolicy(tm root.TrustedMaterial, id Identity) (*Policy, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	san, err := verify.NewSANMatcher(id.Subject, id.SubjectRegexp)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	iss, err := verify.NewIssuerMatcher(id.Issuer, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	ci, err := verify.NewCertificateIdentity(san, iss, certificate.Extensions{SourceRepositoryURI: id.SourceRepository, SourceRepositoryRef: id.SourceRef})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	opts := []verify.VerifierOption{verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1)}
	if len(tm.CTLogs()) > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	bv, err := verify.NewVerifier(tm, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: bundle verifier: %w", ErrBadPolicy, err)
	}
	subject := id.Subject
	if subject == "" {
		subject = "matching " + id.SubjectRegexp
	}
	what := fmt.Sprintf("identity %s issued by %s", subject, id.Issuer)
	if id.SourceRepository != "" || id.SourceRef != "" {
		what += fmt.Sprintf(" for source %s %s", id.SourceRepository, id.SourceRef)
	}
	return &Policy{bundles: bv, identity: verify.WithCertificateIdentity(ci), what: strings.TrimSpace(what)}, nil
}

// LoadTrustedRoot reads sigstore's trusted root JSON (trusted_root.json:
// Fulcio CAs, Rekor and CT log keys, timestamp authorities), as written by
// `cosign trusted-root create` or fetched from sigstore's TUF repository.
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fault.Inputf("path", "%w: read trusted root: %w", ErrBadPolicy, err)
	}
	tr, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		return nil, fault.Inputf("path", "%w: %s is not a sigstore trusted root (application/vnd.dev.sigstore.trustedroot+json): %w", ErrBadPolicy, path, err)
	}
	return tr, nil
}

// TUF says where FetchTrustedRoot finds sigstore's TUF repository.
type TUF struct {
	Mirror   string // default tuf.DefaultMirror, sigstore's public instance
	CacheDir string // default $HOME/.sigstore/root, as cosign and sigstore-go
}

// FetchTrustedRoot gets the current trusted root of sigstore's public
// instance through its TUF repository, verified from the root of trust
// embedded in sigstore-go. It needs the network (the cache is refreshed on
// every call, as cosign does); offline, pass a trusted_root.json instead.
func FetchTrustedRoot(ctx context.Context, t TUF) (*root.TrustedRoot, error) {
	opts := tuf.DefaultOptions().WithContext(ctx)
	if t.Mirror != "" {
		opts = opts.WithRepositoryBaseURL(strings.TrimSuffix(t.Mirror, "/"))
	}
	if t.CacheDir != "" {
		opts = opts.WithCachePath(t.CacheDir)
	}
	tr, err := root.FetchTrustedRootWithOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch sigstore's trusted root from the TUF repository %s: %w: with no network, pass --trusted-root trusted_root.json (written by `cosign trusted-root create`, or fetched where the network is)",
			ErrNoTrustedRoot, opts.RepositoryBaseURL, err)
	}
	return tr, nil
}
