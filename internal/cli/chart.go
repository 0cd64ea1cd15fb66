package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/image/helmchart"
)

func init() { register(newChartCmd) }

// chartVersion is the version CD publishes a build's chart under: Chart.yaml's version, or,
// with build set (the image's tag, sha-<short>), <Chart.yaml version>-<build>.
func chartVersion(dir, version, build string) (string, error) {
	if version != "" && build != "" {
		return "", fault.Invalidf("--version and --build: give one (--build appends the image tag to Chart.yaml's version)")
	}
	if build == "" {
		return version, nil
	}
	c, _, err := helmchart.Load(dir, "")
	if err != nil {
		return "", fmt.Errorf("--dir: %w", err)
	}
	v := c.Metadata.Version + "-" + build
	if strings.Contains(c.Metadata.Version, "-") {
		v = c.Metadata.Version + "." + build
	}
	if err := helmchart.Version(v); err != nil {
		return "", fmt.Errorf("--build %q: %w", build, err)
	}
	return v, nil
}

func newChartCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chart",
		Short: "Publish a service's Helm chart to the chart repository Argo CD reads (OCI), and resolve a version",
	}
	cmd.AddCommand(newChartPushCmd(a), newChartResolveCmd(a))
	return cmd
}

func newChartPushCmd(a *App) *cobra.Command {
	var o helmchart.PushOptions
	var build string
	cmd := &cobra.Command{
		Use:   "push --dir CHART --repo REPO [--version V | --build TAG]",
		Short: "Package a chart and push it as an OCI artifact (helm package + helm push), immutably",
		Long: `push packages the chart in --dir (what "helm package" writes) and pushes it to
REPO/<chart name>:<version> as an OCI artifact that "helm pull" and Argo CD's
repo-server read. The last line printed is REPO/NAME:VERSION@sha256:DIGEST.

The version is Chart.yaml's, --version, or with --build TAG (the image tag
the same CD run built, sha-<short>) <Chart.yaml version>-TAG: CD publishes
every build's chart next to its image, deploys it to dev with
"smpctl deploy --chart-version", and promotion carries it to staging and prod
(docs/kubernetes.md).

A version is immutable: pushing it again with the same content changes
nothing (exit 0, "already published"); with other content it is refused
(exit 1). Credentials: GITHUB_TOKEN for ghcr.io, ~/.docker/config.json
otherwise.`,
		Example: `  smpctl chart push --dir deployments/helm/order-svc --repo ghcr.io/smp/charts --build sha-3f9c2e1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := chartVersion(o.Dir, o.Version, build)
			if err != nil {
				return err
			}
			o.Version, o.Access = v, a.access()
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			res, err := helmchart.Push(ctx, o)
			if err != nil {
				return err
			}
			return a.Render(res, func(w io.Writer) error {
				if !res.Pushed {
					fmt.Fprintf(w, "already published with the same content: %s\n", res.Ref)
				} else {
					fmt.Fprintf(w, "pushed chart %s %s\n", res.Chart, res.Version)
				}
				_, err := fmt.Fprintf(w, "%s@%s\n", res.Ref, res.Digest)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "the chart's directory (Chart.yaml, values.yaml, templates/)")
	f.StringVar(&o.Repo, "repo", "", "chart repository, without the chart name: ghcr.io/smp/charts (oci:// accepted)")
	f.StringVar(&o.Version, "version", "", "chart version to publish (default: Chart.yaml's)")
	f.StringVar(&build, "build", "", "publish as <Chart.yaml version>-BUILD, BUILD being the image tag of the same build (sha-<short>)")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}

func newChartResolveCmd(a *App) *cobra.Command {
	var dir, repo, chartName, version, build string
	cmd := &cobra.Command{
		Use:   "resolve --repo REPO (--chart NAME --version V | --dir CHART --build TAG)",
		Short: "Print REPO/NAME:VERSION@DIGEST of a published chart version; exit 1 when it is not published",
		Long: `resolve checks that a chart version is in the chart repository, as Argo CD
will need it, and prints its digest. With --dir and --build it computes the
version CD published for that build (<Chart.yaml version>-TAG): the promote
job uses it to carry the chart of the build it promotes.`,
		Example: `  smpctl chart resolve --repo ghcr.io/smp/charts --dir deployments/helm/order-svc --build sha-3f9c2e1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir != "" {
				c, _, err := helmchart.Load(dir, "")
				if err != nil {
					return fmt.Errorf("--dir: %w", err)
				}
				if chartName == "" {
					chartName = c.Name()
				}
				v, err := chartVersion(dir, version, build)
				if err != nil {
					return err
				}
				if v == "" {
					v = c.Metadata.Version
				}
				version = v
			}
			if chartName == "" || version == "" {
				return fault.Invalidf("say which chart: --chart NAME --version V, or --dir CHART [--build TAG]")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			d, err := helmchart.Resolve(ctx, repo, chartName, version, a.access())
			if err != nil {
				return err
			}
			ref := strings.TrimSuffix(strings.TrimPrefix(repo, "oci://"), "/") + "/" + chartName + ":" + version
			out := struct {
				Chart   string `json:"chart"`
				Version string `json:"version"`
				Ref     string `json:"ref"`
				Digest  string `json:"digest"`
			}{chartName, version, ref, d}
			return a.Render(out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s@%s\n", ref, d)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "chart repository, without the chart name: ghcr.io/smp/charts")
	f.StringVar(&chartName, "chart", "", "chart name (default: the name in --dir's Chart.yaml)")
	f.StringVar(&version, "version", "", "chart version")
	f.StringVar(&dir, "dir", "", "the chart's directory: its name and version come from Chart.yaml")
	f.StringVar(&build, "build", "", "with --dir: the version CD published for this image tag (<Chart.yaml version>-BUILD)")
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}
