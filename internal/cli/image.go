package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/exit"
	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/imagepolicy"
	"github.com/smp/delivery/internal/imageref"
	"github.com/smp/delivery/internal/retention"
	"github.com/smp/delivery/internal/signing"
)

func init() { register(newImageCmd) }

// registryTimeout bounds every command that talks to a registry.
const registryTimeout = 10 * time.Minute

// access is how image commands reach registries: ~/.docker/config.json,
// plus GITHUB_TOKEN for ghcr.io (read here, at the edge).
func (a *App) access() imageref.Access {
	return imageref.Access{GitHubToken: a.Getenv("GITHUB_TOKEN"), GitHubActor: a.Getenv("GITHUB_ACTOR")}
}

// imageError maps the image packages' sentinels to exit codes: bad input 2,
// a refused remote or a failed check 1.
func imageError(err error) error {
	if err == nil {
		return nil
	}
	var coded *exit.Error
	if errors.As(err, &coded) {
		return err // already decided
	}
	for _, usage := range []error{
		imageref.ErrInvalid, image.ErrBadInput, image.ErrNotMain, image.ErrCgoOnly, image.ErrNoCommit,
		signing.ErrBadKey, retention.ErrBadInput, imagepolicy.ErrBadInput,
	} {
		if errors.Is(err, usage) {
			return exit.UsageError(err)
		}
	}
	return exit.FailedError(err)
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
				return imageError(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			res, err := image.Tag(ctx, d, tags, a.access())
			if err != nil {
				return imageError(err)
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
				return imageError(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			res, err := image.Resolve(ctx, r, commit, a.access())
			if err != nil {
				return imageError(err)
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
	return cmd
}

func newImageVerifyCmd(a *App) *cobra.Command {
	var ref, key string
	cmd := &cobra.Command{
		Use:   "verify --image REF --key cosign.pub",
		Short: "Check the image's cosign signature and its signed CycloneDX SBOM",
		Long: `verify resolves REF to a digest and checks, with the public key:
  - a cosign signature (REPO:sha256-<hex>.sig) of that digest;
  - for each platform image, an SBOM referrer signed by the same key whose
    recorded binary SHA-256 is that of /app/server in the image.
Exit 1 when any check fails. Keyless (Fulcio/Rekor) signatures made by cosign
in GitHub Actions are verified with the cosign CLI (docs/images.md).`,
		Example: `  smpctl image verify --image ghcr.io/smp/order-svc@sha256:4f… --key cosign.pub`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := imageref.Reference(ref)
			if err != nil {
				return imageError(err)
			}
			v, err := loadVerifier(key)
			if err != nil {
				return imageError(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			res, err := signing.Verify(ctx, r, v, a.access())
			if err != nil {
				return imageError(err)
			}
			return a.Render(res, func(w io.Writer) error {
				fmt.Fprintf(w, "signature: ok  %s\n", res.Image)
				for _, p := range res.Platforms {
					fmt.Fprintf(w, "sbom:      ok  %s (%s %s, binary sha256 %s)\n", p.SBOM, p.Component, p.Version, p.BinarySHA256[:12])
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&ref, "image", "", "image reference: REPO@sha256:… (or a tag, resolved first)")
	cmd.Flags().StringVar(&key, "key", "", "cosign public key (cosign.pub)")
	_ = cmd.MarkFlagRequired("image")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}
