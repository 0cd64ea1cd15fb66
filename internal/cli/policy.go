package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/image/imagepolicy"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/signing"
)

func init() { register(newPolicyCmd) }

func newPolicyCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check SMP's policies: policy check (container images and Dockerfiles)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newPolicyCheckCmd(a))
	return cmd
}

type policyReport struct {
	Findings []imagepolicy.Finding `json:"findings"`
	Checked  []string              `json:"checked"`
}

func newPolicyCheckCmd(a *App) *cobra.Command {
	var images, dockerfiles, registries, bases []string
	var env string
	var signer verifyFlags
	cfg := imagepolicy.Default()
	cmd := &cobra.Command{
		Use:   "check [--image REF]... [--dockerfile PATH]... [--env prod (--key cosign.pub | --certificate-identity… --certificate-oidc-issuer…)]",
		Short: "Check images and Dockerfiles: allowed and pinned base, non-root USER, no latest, allowed registry, signed for prod",
		Long: `check applies the container image policy (docs/seed.md §15):
  - Dockerfiles: every base pinned by digest, never latest; the runtime
    stage on distroless or alpine (--allow-base) and not running as root;
  - images: in an allowed registry (--allow-registry, default ghcr.io/smp/),
    pinned by digest, never latest or main;
  - with --env prod (or any --signed-env): each image must carry a valid
    signature and signed SBOM, checked as "smpctl image verify" does: by
    --key, or keyless by --certificate-identity[-regexp] and
    --certificate-oidc-issuer (with --certificate-source-repository,
    --certificate-source-ref and --trusted-root as there).
Exit 1 with every finding (where, what, how to fix); 2 for unreadable input.`,
		Example: `  smpctl policy check --dockerfile Dockerfile
  smpctl policy check --image ghcr.io/smp/order-svc:3.3.0@sha256:4f… --env prod --key cosign.pub
  smpctl policy check --image ghcr.io/smp/order-svc:3.3.0@sha256:4f… --env prod \
    --certificate-identity-regexp '^https://github\.com/smp/delivery/\.github/workflows/cd\.yml@refs/tags/v' \
    --certificate-oidc-issuer https://token.actions.githubusercontent.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(images) == 0 && len(dockerfiles) == 0 {
				return fault.Invalidf("nothing to check: pass --image REF and/or --dockerfile PATH")
			}
			if cmd.Flags().Changed("allow-registry") {
				cfg.Registries = registries
			}
			if cmd.Flags().Changed("allow-base") {
				cfg.Bases = bases
			}
			rep := policyReport{Findings: []imagepolicy.Finding{}}
			for _, p := range dockerfiles {
				b, err := os.ReadFile(p)
				if err != nil {
					return fault.Invalidf("read --dockerfile %s: %v", p, err)
				}
				fs, err := imagepolicy.CheckDockerfile(p, b, cfg)
				if err != nil {
					return err
				}
				rep.Findings, rep.Checked = append(rep.Findings, fs...), append(rep.Checked, p)
			}
			for _, ref := range images {
				rep.Findings, rep.Checked = append(rep.Findings, imagepolicy.CheckImage(ref, cfg)...), append(rep.Checked, ref)
			}
			if cfg.NeedsSignature(env) {
				fs, err := signatureFindings(cmd.Context(), a, images, &signer, env)
				if err != nil {
					return err
				}
				rep.Findings = append(rep.Findings, fs...)
			}
			if err := a.Render(rep, func(w io.Writer) error { return writePolicy(w, rep) }); err != nil {
				return err
			}
			if len(rep.Findings) > 0 {
				return fault.Refusedf("%d policy finding(s)", len(rep.Findings))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&images, "image", nil, "image reference to check (repeatable)")
	f.StringArrayVar(&dockerfiles, "dockerfile", nil, "Dockerfile to check (repeatable)")
	f.StringVar(&env, "env", "", "environment the images go to; signed environments need --key or a keyless identity")
	signer.add(cmd)
	f.StringArrayVar(&registries, "allow-registry", cfg.Registries, "allowed image prefix (repeatable)")
	f.StringArrayVar(&bases, "allow-base", cfg.Bases, "allowed runtime base prefix (repeatable)")
	f.StringSliceVar(&cfg.SignedEnvironments, "signed-env", cfg.SignedEnvironments, "environments that must run signed images")
	return cmd
}

func signatureFindings(ctx context.Context, a *App, images []string, signer *verifyFlags, env string) ([]imagepolicy.Finding, error) {
	if len(images) == 0 {
		return nil, nil
	}
	if !signer.given() {
		return nil, fault.Invalidf("--env %s needs signed images: pass --key cosign.pub, or --certificate-identity (or --certificate-identity-regexp) with --certificate-oidc-issuer", env)
	}
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	p, err := signer.policy(ctx, a)
	if err != nil {
		return nil, err
	}
	var fs []imagepolicy.Finding
	for _, img := range images {
		ref, err := imageref.Reference(img)
		if err != nil {
			continue // already a finding of CheckImage
		}
		if _, err := signing.VerifyPolicy(ctx, ref, p, a.access()); err != nil {
			fs = append(fs, imagepolicy.Finding{Rule: "signature", Where: img, Message: err.Error(),
				Fix: signFix(signer, img)})
		}
	}
	return fs, nil
}

func writePolicy(w io.Writer, rep policyReport) error {
	for _, f := range rep.Findings {
		fmt.Fprintln(w, f.String())
	}
	_, err := fmt.Fprintf(w, "policy: %d finding(s) in %d input(s)\n", len(rep.Findings), len(rep.Checked))
	return err
}

// signFix says how to sign img so that signer accepts it.
func signFix(signer *verifyFlags, img string) string {
	if signer.key != "" {
		return "sign it: smpctl sign --key cosign.key --image " + img
	}
	return "sign it in CD (cd.yml signs keylessly on main), or with cosign sign --yes IMAGE@DIGEST under that identity"
}
