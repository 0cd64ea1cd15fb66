package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/plan"
)

func init() { register(newPlanCmd) }

func newPlanCmd(a *App) *cobra.Command {
	var ref, config string
	cmd := &cobra.Command{
		Use:   "plan --ref REF [--config delivery.yaml]",
		Short: "Say what the pipeline does for a git ref: CI, target environment, version, approval",
		Long: `plan is the single implementation of the branch and deploy mapping:

  pull request to main          CI only
  push to main                  CI, build, deploy to dev (automatic)
  tag vX.Y.Z-rc.N               deploy to staging (approval)
  tag vX.Y.Z                    deploy to prod (release manager approval)
  anything else                 nothing, with the reason

A tag that matches the CD trigger v*.*.* but is not strict SemVer vX.Y.Z or
vX.Y.Z-rc.N (v3.3.0-rollback, v1.2.3-beta.1, v01.2.3) exits 2 and deploys
nothing. With --config the rules come from the GitOps repo's delivery.yaml.`,
		Example: `  smpctl plan --ref refs/tags/v3.3.0-rc.1 -o json
  smpctl plan --ref "$GITHUB_REF" --config smp-gitops/delivery.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("ref") {
				return fault.Invalidf("missing --ref: give the git ref to plan, e.g. --ref refs/heads/main or --ref v1.2.3")
			}
			cfg := delivery.Default()
			if config != "" {
				c, err := delivery.Load(config)
				if err != nil {
					return err
				}
				cfg = c
			}
			p, err := plan.For(cfg, ref)
			if errors.Is(err, plan.ErrInvalidRef) {
				return err
			}
			if rerr := a.Render(p, func(w io.Writer) error { return writePlan(w, p) }); rerr != nil {
				return rerr
			}
			return err // nil, or an invalid release tag, after its plan (nothing to deploy)
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "git ref: refs/heads/main, refs/tags/v1.2.3, refs/pull/7/merge, or a short name")
	cmd.Flags().StringVar(&config, "config", "", "delivery.yaml to read the rules from (default: the seed's table)")
	return cmd
}

func writePlan(w io.Writer, p plan.Plan) error {
	ci := "no"
	if p.CI {
		ci = "yes"
	}
	env := p.Environment
	if env == "" {
		env = "nothing"
	}
	_, err := fmt.Fprintf(w, "ref:         %s (%s %s)\nci:          %s\ndeploys to:  %s\n", p.Ref, p.Kind, p.Name, ci, env)
	if err != nil {
		return err
	}
	if p.Version != "" {
		fmt.Fprintf(w, "version:     %s\n", p.Version)
	}
	if p.Environment != "" {
		fmt.Fprintf(w, "approval:    %s\nsync:        %s\n", p.Approval, p.Sync)
	}
	if p.Reason != "" {
		fmt.Fprintf(w, "reason:      %s\n", p.Reason)
	}
	return nil
}
