package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/protect"
)

func init() { register(newRepoCmd) }

func newRepoCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Keep a service repository's GitHub settings as code",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newRepoProtectCmd(a))
	return cmd
}

type protectReport struct {
	Repo     string `json:"repo"`
	Settings string `json:"settings"`
	Mode     string `json:"mode"`
	Matches  bool   `json:"matches"`
	// Differences are what --check found, or what --apply changed.
	Differences []protect.Difference `json:"differences"`
	// Left are the differences --apply cannot fix (secrets), each with
	// its fix.
	Left []protect.Difference `json:"left,omitempty"`
}

func newRepoProtectCmd(a *App) *cobra.Command {
	var check, apply bool
	var repo, settings, tokenFile, apiURL string
	cmd := &cobra.Command{
		Use:   "protect (--check | --apply) --repo OWNER/NAME [--settings .github/settings.yml]",
		Short: "Compare (--check) or make (--apply) GitHub's branch protection and environments match the committed settings",
		Long: `protect keeps a repository's branch protection, merge settings and deployment
environments equal to .github/settings.yml: required checks, one CODEOWNERS
approval, linear history, no force push, branches deleted after merge, signed
commits as an option; per environment its reviewers, self-review, wait timer,
deployment branch policy, and the secrets (GITOPS_TOKEN) it must hold as
environment secrets and the repository must not hold.

--check exits 1 and prints every difference when GitHub differs; --apply
changes only what differs and checks again. --apply never writes or deletes a
secret: a missing environment secret, or one that is also a repository or
organization secret, is left with the command that fixes it, and --apply
exits 1 until a person has run it. The token comes from GITHUB_TOKEN or
--token-file (never a flag value, never printed); --apply needs admin rights
on the repository.`,
		Example: `  smpctl repo protect --check --repo smp/order-svc
  GITHUB_TOKEN=... smpctl repo protect --apply --repo smp/order-svc --settings .github/settings.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if check == apply {
				return fault.Invalidf("give exactly one of --check (compare) and --apply (change GitHub)")
			}
			owner, name, err := protect.ParseRepo(repo)
			if err != nil {
				return fault.Invalidf("--repo: %v", err)
			}
			s, err := protect.Load(settings)
			if err != nil {
				return err
			}
			token, err := githubToken(a, tokenFile)
			if err != nil {
				return err
			}
			if apiURL == "" {
				apiURL = a.Getenv("GITHUB_API_URL") // set by GitHub Actions, also for GitHub Enterprise
			}
			c := &protect.Client{BaseURL: apiURL, Token: token}
			r := protectReport{Repo: repo, Settings: settings, Mode: "check"}
			if apply {
				r.Mode = "apply"
				r.Differences, r.Left, err = protect.Apply(cmd.Context(), c, owner, name, s)
				r.Matches = len(r.Left) == 0
			} else {
				r.Differences, err = protect.Check(cmd.Context(), c, owner, name, s)
				r.Matches = len(r.Differences) == 0
			}
			if err != nil {
				return err
			}
			if err := a.Render(r, func(w io.Writer) error { return writeProtect(w, r) }); err != nil {
				return err
			}
			return protectVerdict(r)
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "compare GitHub with the settings file; exit 1 with the differences")
	cmd.Flags().BoolVar(&apply, "apply", false, "change GitHub to match the settings file")
	cmd.Flags().StringVar(&repo, "repo", "", "the repository, OWNER/NAME")
	cmd.Flags().StringVar(&settings, "settings", ".github/settings.yml", "the committed settings file")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the GitHub token (default: $GITHUB_TOKEN)")
	cmd.Flags().StringVar(&apiURL, "api-url", "", "GitHub API root (default $GITHUB_API_URL, else "+protect.DefaultAPIURL+")")
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}

// githubToken reads the token from --token-file, else GITHUB_TOKEN.
func githubToken(a *App, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fault.Invalidf("--token-file: %v", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fault.Invalidf("--token-file %s is empty; put the GitHub token in it", file)
		}
		return t, nil
	}
	if t := strings.TrimSpace(a.Getenv("GITHUB_TOKEN")); t != "" {
		return t, nil
	}
	return "", fault.Invalidf("no GitHub token: set GITHUB_TOKEN or pass --token-file FILE (a token is never a flag value)")
}

// protectVerdict is the exit: 0 when GitHub matches, else 1 with what to
// run next.
func protectVerdict(r protectReport) error {
	if r.Matches {
		return nil
	}
	if r.Mode == "apply" {
		return fault.Refusedf("%s still differs from %s in %d settings only a person can fix (secrets, above); fix them and run smpctl repo protect --check --repo %s", r.Repo, r.Settings, len(r.Left), r.Repo)
	}
	byHand := 0
	for _, d := range r.Differences {
		if d.ByHand() {
			byHand++
		}
	}
	switch byHand {
	case 0:
		return fault.Refusedf("%s differs from %s in %d settings; run smpctl repo protect --apply --repo %s", r.Repo, r.Settings, len(r.Differences), r.Repo)
	case len(r.Differences):
		return fault.Refusedf("%s differs from %s in %d settings only a person can fix (secrets, above)", r.Repo, r.Settings, byHand)
	default:
		return fault.Refusedf("%s differs from %s in %d settings; run smpctl repo protect --apply --repo %s for %d, and fix the other %d (secrets, above) by hand",
			r.Repo, r.Settings, len(r.Differences), r.Repo, len(r.Differences)-byHand, byHand)
	}
}

func writeProtect(w io.Writer, r protectReport) error {
	list := func(diffs []protect.Difference) error {
		for _, d := range diffs {
			if _, err := fmt.Fprintf(w, "  %s\n", d); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case r.Mode == "apply" && len(r.Differences) == 0 && len(r.Left) == 0:
		_, err := fmt.Fprintf(w, "%s already matches %s; nothing changed\n", r.Repo, r.Settings)
		return err
	case r.Mode == "apply":
		switch {
		case len(r.Differences) == 0:
			fmt.Fprintf(w, "%s: nothing smpctl can change differs from %s\n", r.Repo, r.Settings)
		case len(r.Left) == 0:
			fmt.Fprintf(w, "%s now matches %s; changed:\n", r.Repo, r.Settings)
			return list(r.Differences)
		default:
			fmt.Fprintf(w, "%s changed to match %s:\n", r.Repo, r.Settings)
			if err := list(r.Differences); err != nil {
				return err
			}
		}
		// Secrets: smpctl never writes or deletes one.
		fmt.Fprintf(w, "left for a person (smpctl never writes or deletes a secret):\n")
		return list(r.Left)
	case len(r.Differences) == 0:
		_, err := fmt.Fprintf(w, "%s matches %s\n", r.Repo, r.Settings)
		return err
	default:
		fmt.Fprintf(w, "%s differs from %s:\n", r.Repo, r.Settings)
		return list(r.Differences)
	}
}
