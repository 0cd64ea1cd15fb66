package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/image/imageref"
)

func init() { register(newBuildCmd) }

func newBuildCmd(a *App) *cobra.Command {
	var o image.BuildOptions
	var repo, platforms, base, defaultBase string
	var push bool
	cmd := &cobra.Command{
		Use:   "build --dir DIR --image REPO [--tag TAG]... [--platform linux/amd64,linux/arm64] [--push]",
		Short: "Build a service image without Docker: reproducible, tagged sha-<short>, with an SBOM",
		Long: `build compiles the main package in DIR (CGO_ENABLED=0, -trimpath,
-ldflags "-s -w -X main.version=V -X main.commit=SHA") and puts the binary at
/app/server on a base: user 65532:65532, entrypoint /app/server, port 8080,
OCI annotations source, revision, version and created (the commit time).

The base:
  (no --base)         the default base, gcr.io/distroless/static-debian12:nonroot
                      (--default-base, SMP_DEFAULT_BASE, e.g. a mirror), pulled
                      and pinned by digest if its registry answers within 3s;
                      if it cannot be reached (DNS, refused, timeout), the
                      built-in base, said in one line on standard error. A
                      registry that answers with an error (401, 404, ...) fails
                      the build (exit 1): no silent change of base.
  --base REF@sha256:… that image, pulled by digest (SMP_BASE in CI); no fall back.
  --base builtin      the built-in minimal base (CA certificates, passwd with
                      nonroot 65532, no shell), no network.
A pulled base is recorded in the annotations org.opencontainers.image.base.name
and .base.digest, and printed ("base: NAME@sha256:…", "base" in -o json): pass
it back as --base to build the same image again.

The same commit on the same base always gives the same digest. The image is
tagged sha-<short commit>, never latest; several platforms make an image
index. A CycloneDX SBOM of the binary is attached as an OCI referrer.

Version and commit come from --version/--commit, else from git in DIR
(git describe --tags --always, git rev-parse HEAD). Progress goes to
standard error; the last line of standard output is REPO:TAG@sha256:…`,
		Example: `  smpctl build --dir ./cmd/server --image ghcr.io/smp/order-svc --push
  smpctl build --dir ./cmd/server --image 127.0.0.1:5000/smp/order-svc --platform linux/amd64,linux/arm64 --push -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := imageref.Repository(repo)
			if err != nil {
				return err
			}
			if o.Platforms, err = image.ParsePlatforms(platforms); err != nil {
				return err
			}
			if err := chooseBase(&o, base, defaultBase); err != nil {
				return err
			}
			o.Repo, o.Progress, o.BaseAccess = r, a.Stderr, a.access()
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			art, err := image.Build(ctx, o)
			if err != nil {
				return err
			}
			defer art.Cleanup()
			res, err := image.Describe(art)
			if push && err == nil {
				fmt.Fprintf(a.Stderr, "push: %s (%s)\n", r, strings.Join(art.Tags, ", "))
				res, err = image.Push(ctx, art, a.access())
			}
			if err != nil {
				return err
			}
			if !push {
				fmt.Fprintln(a.Stderr, "build: not pushed (pass --push to upload)")
			}
			return a.Render(res, func(w io.Writer) error { return writeBuild(w, res) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", ".", "the service's main package directory")
	f.StringVar(&repo, "image", "", "image repository, e.g. ghcr.io/smp/order-svc (no tag)")
	f.StringArrayVar(&o.Tags, "tag", nil, "extra tag (repeatable); sha-<short> is always added; never latest or main")
	f.StringVar(&platforms, "platform", "linux/amd64", "comma-separated platforms; several make an image index")
	inputFlag(cmd, "Repo", "image")
	inputFlag(cmd, "Platforms", "platform")
	f.BoolVar(&push, "push", false, "push the image, its tags and its SBOM")
	f.StringVar(&o.Version, "version", "", "main.version and the version annotation (default: git describe --tags --always)")
	f.StringVar(&o.Commit, "commit", "", "main.commit and the revision annotation (default: git rev-parse HEAD)")
	f.StringVar(&o.Source, "source", "", "the source annotation (default: git remote origin)")
	f.StringVar(&o.CACerts, "ca-certs", image.DefaultCACerts, "CA bundle copied into the built-in base")
	f.StringVar(&base, "base", "", "base image pinned by digest (e.g. gcr.io/distroless/static-debian12:nonroot@sha256:…), or builtin; default: --default-base")
	f.StringVar(&defaultBase, "default-base", image.DefaultBase, "base pulled and pinned by digest when no --base is given and its registry answers (else the built-in base)")
	_ = cmd.MarkFlagRequired("image")
	return cmd
}

// chooseBase reads --base (builtin, or a reference with a digest) and
// --default-base (a reference with a tag or digest).
func chooseBase(o *image.BuildOptions, base, defaultBase string) error {
	switch base {
	case image.BuiltinBase:
		return nil
	case "":
		ref, err := imageref.Reference(defaultBase)
		if err != nil {
			return fmt.Errorf("--default-base: %w", err)
		}
		o.DefaultBase = ref
		return nil
	}
	d, err := imageref.Digest(base)
	if err != nil {
		return fmt.Errorf("--base: %w (or --base builtin for the built-in base)", err)
	}
	o.Base = d
	return nil
}

func writeBuild(w io.Writer, res *image.Pushed) error {
	for _, p := range res.Platforms {
		sbom := p.SBOM
		if sbom == "" {
			sbom = "(attached on push)"
		}
		fmt.Fprintf(w, "%-14s %s  binary %s  image %s  sbom %s\n", p.Platform, p.Digest, mib(p.BinarySize), mib(p.ImageSize), sbom)
	}
	fmt.Fprintf(w, "base: %s\n", res.Base)
	if len(res.Tags) > 1 {
		fmt.Fprintf(w, "tags: %s\n", strings.Join(res.Tags, ", "))
	}
	_, err := fmt.Fprintln(w, res.Reference)
	return err
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
