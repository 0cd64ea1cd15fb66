package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops/layout"
)

func init() { register(newGitopsCmd) }

func newGitopsCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gitops",
		Short: "Create the smp-gitops repository and add services to it",
	}
	cmd.AddCommand(newGitopsInitCmd(a), newGitopsAddServiceCmd(a))
	return cmd
}

// addIdentityFlags adds the commit identity override, as deploy has it
// (--git-author-name ← SMP_GIT_AUTHOR_NAME, ...); empty fields fall back to
// delivery.yaml's identity.
func addIdentityFlags(cmd *cobra.Command, id *layout.Identity) {
	cmd.Flags().StringVar(&id.Name, "git-author-name", "", "commit author and committer name (default: delivery.yaml identity, else smpctl-bot)")
	cmd.Flags().StringVar(&id.Email, "git-author-email", "", "commit author and committer email")
}

func newGitopsInitCmd(a *App) *cobra.Command {
	var o layout.InitOptions
	cmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Create an smp-gitops repository: delivery.yaml, environments/, apps/ (Argo CD), state/",
		Long: `init writes the smp-gitops scaffold into DIR (created if missing), makes it a
git repository on branch main and commits "gitops: init". DIR must be new or
empty; a DIR that is already a gitops repository is left alone (exit 0).

With --remote PATH, a bare repository is created at PATH (or an empty one is
used), the first commit is pushed to it and it becomes origin.`,
		Example: `  smpctl gitops init smp-gitops --remote /srv/git/smp-gitops.git
  smpctl gitops init smp-gitops --repo-url https://github.com/acme/smp-gitops.git`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := layout.Init(cmd.Context(), args[0], o)
			if errors.Is(err, layout.ErrAlreadyInitialized) {
				fmt.Fprintf(a.Stdout, "%s is already a gitops repository: nothing to do\n", args[0])
				return nil
			}
			if err != nil {
				return err
			}
			return a.Render(res, func(w io.Writer) error {
				fmt.Fprintf(w, "initialised %s (%d files, commit %s)\n", res.Dir, len(res.Files), shortSHA(res.Commit))
				if res.Remote != "" {
					fmt.Fprintf(w, "pushed main to %s (origin)\n", res.Remote)
				}
				_, err := fmt.Fprintf(w, "next: smpctl gitops add-service NAME --dir %s\n", res.Dir)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&o.Remote, "remote", "", "local path of a bare repository to create (or an empty one) and push the first commit to")
	cmd.Flags().StringVar(&o.RepoURL, "repo-url", "", "the GitOps repository's URL as Argo CD reaches it (written into apps/)")
	cmd.Flags().StringVar(&o.ChartRepo, "chart-repo", "", "the Helm chart repository Argo CD pulls service charts from (written into apps/)")
	addIdentityFlags(cmd, &o.Identity)
	return cmd
}

func newGitopsAddServiceCmd(a *App) *cobra.Command {
	var (
		o   layout.AddOptions
		dir string
	)
	cmd := &cobra.Command{
		Use:   "add-service NAME",
		Short: "Add a service: an environment file per environment and an entry in delivery.yaml",
		Long: `add-service writes environments/<env>/NAME.yaml for every environment of
delivery.yaml (critical services get strategy: blueGreen in prod, others
rolling), lists the service in delivery.yaml (keeping its comments and
layout) and commits "gitops: add NAME" when DIR is a git work tree. The
apps/ ApplicationSets pick the new files up: nothing there changes.
Running it again changes nothing.`,
		Example: `  smpctl gitops add-service order-svc --dir smp-gitops --critical
  smpctl gitops add-service partner-svc --image ghcr.io/smp/partner-svc`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := layout.AddService(cmd.Context(), dir, args[0], o)
			if err != nil {
				return err
			}
			for _, warning := range res.Warnings {
				fmt.Fprintf(a.Stderr, "smpctl: warning: %s\n", warning)
			}
			return a.Render(res, func(w io.Writer) error {
				if len(res.Files) == 0 {
					_, err := fmt.Fprintf(w, "%s is already in %s: nothing to do\n", res.Service, dir)
					return err
				}
				for _, f := range res.Files {
					fmt.Fprintf(w, "wrote %s\n", f)
				}
				if res.Commit != "" {
					fmt.Fprintf(w, "committed gitops: add %s (%s)\n", res.Service, shortSHA(res.Commit))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "the GitOps repository's work tree")
	cmd.Flags().BoolVar(&o.Critical, "critical", false, "run blue/green in prod (Argo Rollouts)")
	cmd.Flags().StringVar(&o.Image, "image", "", "image repository without tag (default ghcr.io/smp/NAME)")
	cmd.Flags().StringVar(&o.ChartVersion, "chart-version", layout.DefaultChartVersion, "Helm chart version pinned in every environment")
	cmd.Flags().StringVar(&o.Repository, "repository", "", "the service's GitHub repository (OWNER/NAME), whose CD alone may write it where an environment has requireOIDC (delivery.yaml version 4)")
	addIdentityFlags(cmd, &o.Identity)
	return cmd
}
