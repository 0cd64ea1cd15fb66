package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/signing"
)

func init() { register(newImageCmd) }

// registryTimeout bounds every command that talks to a registry.
const registryTimeout = 10 * time.Minute

// access is how image commands reach registries: ~/.docker/config.json,
// plus GITHUB_TOKEN for ghcr.io (read here, at the edge).
func (a *App) access() imageref.Access {
	return imageref.Access{GitHubToken: a.Getenv("GITHUB_TOKEN"), GitHubActor: a.Getenv("GITHUB_ACTOR")}
}

func newImageCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Promote, find and verify images by digest: image tag, image resolve, image verify",
		Long: `Images are built once (smpctl build) and promoted by adding tags to the
digest that was built, never by rebuilding:

  smpctl image resolve --image REPO --source-commit SHA   # the digest built for a commit
  smpctl image tag --image REPO@sha256:D --tag 3.3.0-rc.1 # promote: a new tag, same digest
  smpctl image verify --image REF --key cosign.pub        # signature + signed SBOM
  smpctl image verify --image REF --certificate-identity-regexp RE --certificate-oidc-issuer URL   # keyless

(The signature check is "image verify"; "smpctl verify" is the metric gate.)`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newImageTagCmd(a), newImageResolveCmd(a), newImageVerifyCmd(a))
	return cmd
}

func newImageTagCmd(a *App) *cobra.Command {
	var ref string
	var tags []string
	cmd := &cobra.Command{
		Use:   "tag --image REPO@sha256:DIGEST --tag TAG [--tag TAG]...",
		Short: "Add tags to an existing digest (promotion without rebuild); tags never move",
		Example: `  smpctl image tag --image ghcr.io/smp/order-svc@sha256:4f… --tag 3.3.0-rc.1
  smpctl image tag --image "$(smpctl image resolve --image ghcr.io/smp/order-svc --source-commit $SHA)" --tag 3.3.0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := imageref.Digest(ref)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			res, err := image.Tag(ctx, d, tags, a.access())
			if err != nil {
				return err
			}
			return a.Render(res, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, res.Reference)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&ref, "image", "", "the image by digest: REPO@sha256:… (or REPO:TAG@sha256:…)")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "tag to add (repeatable); never latest or main")
	_ = cmd.MarkFlagRequired("image")
	_ = cmd.MarkFlagRequired("tag")
	inputFlag(cmd, "tags", "tag")
	return cmd
}

func newImageResolveCmd(a *App) *cobra.Command {
	var repo, commit string
	cmd := &cobra.Command{
		Use:     "resolve --image REPO --source-commit SHA",
		Short:   "Print REPO:sha-<short>@sha256:… of the image built for a commit",
		Example: `  smpctl image resolve --image ghcr.io/smp/order-svc --source-commit "$GITHUB_SHA"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := imageref.Repository(repo)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			res, err := image.Resolve(ctx, r, commit, a.access())
			if err != nil {
				return err
			}
			return a.Render(res, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, res.Reference)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&repo, "image", "", "image repository, e.g. ghcr.io/smp/order-svc")
	cmd.Flags().StringVar(&commit, "source-commit", "", "the commit the image was built from (7 to 40 hex digits)")
	_ = cmd.MarkFlagRequired("image")
	_ = cmd.MarkFlagRequired("source-commit")
	inputFlag(cmd, "commit", "source-commit")
	return cmd
}

// verifyFlags choose whose signatures image verify accepts: a public key,
// or a keyless identity under sigstore's trusted root.
type verifyFlags struct {
	key                         string
	identity, identityRegexp    string
	issuer                      string
	sourceRepository, sourceRef string
	trustedRoot, tufMirror      string
}

func (f *verifyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.key, "key", "", "cosign public key (cosign.pub): key-signed images, in cosign's .sig or bundle format")
	cmd.Flags().StringVar(&f.identity, "certificate-identity", "", "keyless: the signer's identity, exactly (GitHub Actions: https://github.com/OWNER/REPO/.github/workflows/FILE@REF)")
	cmd.Flags().StringVar(&f.identityRegexp, "certificate-identity-regexp", "", "keyless: a regexp the signer's identity must match")
	cmd.Flags().StringVar(&f.issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer (GitHub Actions: https://token.actions.githubusercontent.com)")
	cmd.Flags().StringVar(&f.sourceRepository, "certificate-source-repository", "", "keyless: the repository the signing workflow ran for, exactly (certificate extension 1.3.6.1.4.1.57264.1.12, e.g. https://github.com/smp/order-svc)")
	cmd.Flags().StringVar(&f.sourceRef, "certificate-source-ref", "", "keyless: the git ref it ran on, exactly (extension 1.3.6.1.4.1.57264.1.14, e.g. refs/heads/main)")
	cmd.Flags().StringVar(&f.trustedRoot, "trusted-root", "", "keyless: sigstore trusted root JSON (default: fetched from sigstore's TUF repository)")
	cmd.Flags().StringVar(&f.tufMirror, "tuf-mirror", tuf.DefaultMirror, "keyless, without --trusted-root: the TUF repository to fetch sigstore's trusted root from")
	inputFlag(cmd, "Issuer", "certificate-oidc-issuer")
	inputFlag(cmd, "SubjectRegexp", "certificate-identity-regexp")
	inputFlag(cmd, "path", "trusted-root")
}

// keyless reports whether any keyless flag is set.
func (f *verifyFlags) keyless() bool {
	return f.identity != "" || f.identityRegexp != "" || f.issuer != "" || f.trustedRoot != "" || f.sourceRepository != "" || f.sourceRef != ""
}

// given reports whether the flags name a signer at all.
func (f *verifyFlags) given() bool { return f.key != "" || f.keyless() }

// policy builds the verification policy; only keyless without
// --trusted-root leaves the machine (sigstore's TUF repository).
func (f *verifyFlags) policy(ctx context.Context, a *App) (*signing.Policy, error) {
	keyless := f.keyless()
	switch {
	case f.key != "" && keyless:
		return nil, fault.Invalidf("--key and the keyless flags (--certificate-identity…, --trusted-root) exclude each other: verify with a key or with an identity")
	case f.key != "":
		v, err := loadVerifier(f.key)
		if err != nil {
			return nil, err
		}
		return signing.KeyPolicy(v)
	case !keyless:
		return nil, fault.Invalidf("say whose signature to accept: --key cosign.pub, or --certificate-identity (or --certificate-identity-regexp) with --certificate-oidc-issuer")
	}
	id := signing.Identity{Subject: f.identity, SubjectRegexp: f.identityRegexp, Issuer: f.issuer, SourceRepository: f.sourceRepository, SourceRef: f.sourceRef}
	if err := id.Validate(); err != nil {
		return nil, err // bad flags: say so before fetching anything
	}
	var tm *root.TrustedRoot
	var err error
	if f.trustedRoot != "" {
		tm, err = signing.LoadTrustedRoot(f.trustedRoot)
	} else {
		cache := ""
		if home := a.Getenv("HOME"); home != "" {
			cache = filepath.Join(home, ".sigstore", "root")
		}
		tm, err = signing.FetchTrustedRoot(ctx, signing.TUF{Mirror: f.tufMirror, CacheDir: cache})
	}
	if err != nil {
		return nil, err
	}
	return signing.KeylessPolicy(tm, id)
}

func newImageVerifyCmd(a *App) *cobra.Command {
	var ref string
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify --image REF (--key cosign.pub | --certificate-identity ID --certificate-oidc-issuer URL [--trusted-root trusted_root.json])",
		Short: "Check the image's cosign signature and its signed CycloneDX SBOM (key pair or keyless)",
		Long: `verify resolves REF to a digest and checks:
  - a signature of that digest: in cosign's .sig format (REPO:sha256-<hex>.sig,
    --key only) or a sigstore bundle attached as an OCI referrer (what cosign v3
    writes by default: a DSSE in-toto statement about the digest);
  - for each platform image, a signed SBOM that records the SHA-256 of the
    /app/server in the image: the CycloneDX SBOM referrer with its own
    signature, or a CycloneDX attestation (cosign attest --type cyclonedx)
    whose subject is the platform image.
With --key, signatures must verify with that public key (no transparency log
needed). Keyless, each bundle's Fulcio certificate must chain to the trusted
root and name the identity and issuer, its signature be in a Rekor log of the
root (with a log or TSA time at which the certificate was valid), and, when
the root lists certificate transparency logs, carry an SCT. A reusable
workflow signs as itself; --certificate-source-repository and
--certificate-source-ref pin the repository and ref it ran for. The trusted root
is --trusted-root, or else fetched from sigstore's TUF repository (network).
Exit 1 when any check fails, 2 for unusable flags.`,
		Example: `  smpctl image verify --image ghcr.io/smp/order-svc@sha256:4f… --key cosign.pub
  smpctl image verify --image ghcr.io/smp/order-svc@sha256:4f… \
    --certificate-identity-regexp '^https://github\.com/smp/delivery/\.github/workflows/cd\.yml@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+$' \
    --certificate-oidc-issuer https://token.actions.githubusercontent.com \
    --certificate-source-repository https://github.com/smp/order-svc --certificate-source-ref refs/heads/main`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := imageref.Reference(ref)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			p, err := f.policy(ctx, a)
			if err != nil {
				return err
			}
			res, err := signing.VerifyPolicy(ctx, r, p, a.access())
			if err != nil {
				return err
			}
			return a.Render(res, func(w io.Writer) error {
				fmt.Fprintf(w, "signature: ok  %s (%s)\n", res.Image, res.Signer)
				for _, p := range res.Platforms {
					fmt.Fprintf(w, "sbom:      ok  %s (%s: %s %s, binary sha256 %s)\n", p.SBOM, p.Kind, p.Component, p.Version, p.BinarySHA256[:12])
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&ref, "image", "", "image reference: REPO@sha256:… (or a tag, resolved first)")
	f.add(cmd)
	_ = cmd.MarkFlagRequired("image")
	return cmd
}
