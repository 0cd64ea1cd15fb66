package cli

import (
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops/layout"
	"github.com/smp/delivery/internal/newservice"
)

func init() { register(newNewCmd) }

func newNewCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Create things from the platform's templates",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newNewServiceCmd(a))
	return cmd
}

// newServiceReport is the -o json output: the new repository, and the
// GitOps change when --gitops was given.
type newServiceReport struct {
	*newservice.Result
	GitOps *layout.AddResult `json:"gitops,omitempty"`
}

func newNewServiceCmd(a *App) *cobra.Command {
	var o newservice.Options
	var template, gitops string
	var ao layout.AddOptions
	cmd := &cobra.Command{
		Use:   "service NAME --module PATH [--critical] [--dir OUT] [--gitops DIR]",
		Short: "Create a service repository from the reference service, renamed, ready to build and test",
		Long: `service writes a new service repository laid out exactly like
examples/order-svc — cmd/server, migrations, api/openapi.yaml, tests, the CI
and CD workflows that call the platform's reusable ones, branch protection
(.github/settings.yml) and CODEOWNERS — with the module path and the service
name replaced everywhere. It builds and passes its own tests as generated.

--critical makes prod deploys blue/green with a smoke test on the preview
service before promotion. --gitops DIR also runs gitops add-service for it
in that GitOps work tree (environment files, delivery.yaml, a commit) first.
The template is built into smpctl; --template reads it from a checkout of
smp/delivery instead.`,
		Example: `  smpctl new service payment-svc --module github.com/smp/payment-svc --critical
  smpctl new service notify-svc --module github.com/smp/notify-svc --dir ../notify-svc`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			if o.Dir == "" {
				o.Dir = o.Name
			}
			if err := newservice.Check(o); err != nil {
				return err
			}
			var tmpl fs.FS
			var err error
			if template != "" {
				tmpl, err = newservice.Dir(template)
			} else {
				tmpl, err = newservice.Embedded()
			}
			if err != nil {
				return err
			}
			out := newServiceReport{}
			if gitops != "" {
				// First, so a refused GitOps change leaves no repository
				// behind; add-service is idempotent if generating fails after.
				ao.Critical = o.Critical
				res, err := layout.AddService(cmd.Context(), gitops, o.Name, ao)
				if err != nil {
					return err
				}
				out.GitOps = &res
			}
			res, err := newservice.Generate(tmpl, o)
			if err != nil {
				return err
			}
			out.Result = res
			return a.Render(out, func(w io.Writer) error {
				if out.GitOps != nil {
					for _, f := range out.GitOps.Files {
						fmt.Fprintf(w, "gitops: wrote %s\n", f)
					}
				}
				_, err := fmt.Fprintf(w, "created %s in %s (%d files)\nnext: cd %s && go test ./... && git init\n", res.Name, res.Dir, len(res.Files), res.Dir)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&o.Module, "module", "", "Go module path of the new service, e.g. github.com/smp/payment-svc")
	cmd.Flags().BoolVar(&o.Critical, "critical", false, "blue/green prod deploys, smoke-tested on the preview service")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "directory to create (default: ./NAME); must not exist or be empty")
	cmd.Flags().StringVar(&template, "template", "", "read the template from this checkout of smp/delivery instead of the built-in one")
	cmd.Flags().StringVar(&gitops, "gitops", "", "GitOps work tree to add the service to (smpctl gitops add-service)")
	addIdentityFlags(cmd, &ao.Identity)
	_ = cmd.MarkFlagRequired("module")
	return cmd
}
