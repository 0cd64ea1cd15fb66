package cli

import (
	"context"
	"fmt"
	"github.com/smp/delivery/internal/fault"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/image/gc"
	"github.com/smp/delivery/internal/image/imageref"
)

func init() { register(newRegistryCmd) }

func newRegistryCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Registry housekeeping: registry gc",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newRegistryGCCmd(a))
	return cmd
}

func newRegistryGCCmd(a *App) *cobra.Command {
	var repo, gitopsURL, caFile, cacheDir, backend, api string
	var maxAge time.Duration
	var dryRun, ghcrUser bool
	cmd := &cobra.Command{
		Use:   "gc --image REPO --gitops PATH|URL --dev-max-age 720h [--dry-run]",
		Short: "Delete old dev-only digests; never a release/rc digest nor one the GitOps repo references",
		Long: `gc deletes a digest only when all its tags are sha-<short> dev tags, it is
older than --dev-max-age, and no environment file (environments/*/*.yaml
image.digest or image.tag), hold or approval of the GitOps repository names
it. Signatures and SBOMs go with their image. Deleting a digest deletes all
its tags, which is why the decision is per digest.

Backends: the OCI distribution API (delete by digest; the registry must
allow deletes), and for ghcr.io the GitHub Packages API (GITHUB_TOKEN with
read:packages and delete:packages). --backend auto picks ghcr for ghcr.io.`,
		Example: `  smpctl registry gc --image ghcr.io/smp/order-svc --gitops https://github.com/smp/smp-gitops.git --dev-max-age 720h --dry-run`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := imageref.Repository(repo)
			if err != nil {
				return err
			}
			b, err := gcBackend(a, r.RegistryStr(), r.RepositoryStr(), backend, api, ghcrUser)
			if err != nil {
				return err
			}
			if b == nil {
				b = &gc.OCI{Repo: r, Access: a.access()}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			var refs gc.References
			if gitops.IsURL(gitopsURL) {
				refs, err = gc.ReadRemoteReferences(ctx,
					gitops.Remote{URL: gitopsURL, Token: a.Getenv("SMP_GIT_TOKEN"), CAFile: caFile},
					gitops.MirrorOptions{CacheDir: gitopsCacheDir(a, cacheDir), Timeout: min(registryTimeout, 2*time.Minute)}, r.String())
			} else {
				refs, err = gc.ReadReferences(gitopsURL, r.String())
			}
			if err != nil {
				return err
			}
			res, err := gc.Run(ctx, b, refs, gc.Policy{MaxAge: maxAge, Now: a.Now()}, dryRun)
			if res != nil {
				if rerr := a.Render(res, func(w io.Writer) error { return writeGC(w, res, a.Now()) }); rerr != nil {
					return rerr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "image", "", "image repository, e.g. ghcr.io/smp/order-svc")
	f.StringVar(&gitopsURL, "gitops", "", "the GitOps repository: a local path (read in place) or a URL (https:// with SMP_GIT_TOKEN, ssh, file://; read through the shared cache)")
	f.StringVar(&caFile, "gitops-ca-file", "", "PEM file of an extra certificate authority for an https GitOps remote")
	addCacheDirFlag(cmd, &cacheDir)
	f.DurationVar(&maxAge, "dev-max-age", 720*time.Hour, "age after which an unreferenced dev-only digest is deleted")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan, delete nothing")
	f.StringVar(&backend, "backend", "auto", "auto, oci or ghcr")
	f.StringVar(&api, "github-api", "https://api.github.com", "GitHub REST API for the ghcr backend")
	f.BoolVar(&ghcrUser, "ghcr-user", false, "the ghcr.io owner is a user, not an organisation")
	_ = cmd.MarkFlagRequired("image")
	_ = cmd.MarkFlagRequired("gitops")
	return cmd
}

// gcBackend returns the GHCR backend when asked (or auto on ghcr.io), nil
// for the OCI backend.
func gcBackend(a *App, registry, path, backend, api string, user bool) (gc.Backend, error) {
	switch {
	case backend == "oci", backend == "auto" && registry != "ghcr.io":
		return nil, nil
	case backend == "ghcr", backend == "auto":
		if registry != "ghcr.io" {
			return nil, fault.Invalidf("--backend ghcr needs a ghcr.io repository, not %s", registry)
		}
		g, err := gc.NewGHCR(path, a.Getenv("GITHUB_TOKEN"))
		if err != nil {
			return nil, err
		}
		g.API, g.User = api, user
		return g, nil
	}
	return nil, fault.Invalidf("invalid --backend %q: use auto, oci or ghcr", backend)
}

func writeGC(w io.Writer, res *gc.Result, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tDIGEST\tTAGS\tAGE\tREASON")
	would := 0
	for _, d := range res.Decisions {
		act := string(d.Action)
		if d.Action == gc.Delete {
			would++
			if res.DryRun {
				act = "would delete"
			}
		}
		ageStr := "?"
		if !d.Version.Created.IsZero() {
			ageStr = fmt.Sprintf("%dd", int(now.Sub(d.Version.Created).Hours()/24))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", act, shortDigest(d.Version.Digest), strings.Join(d.Version.Tags, ","), ageStr, d.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.DryRun {
		_, err := fmt.Fprintf(w, "%s: dry run, would delete %d digest(s), keep %d\n", res.Backend, would, res.Kept)
		return err
	}
	_, err := fmt.Fprintf(w, "%s: deleted %d digest(s), kept %d\n", res.Backend, res.Deleted, res.Kept)
	return err
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
