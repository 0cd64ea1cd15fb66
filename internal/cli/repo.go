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
	Repo        string               `json:"repo"`
	Settings    string               `json:"settings"`
	Mode        string               `json:"mode"`
	Matches     bool                 `json:"matches"`
	Differences []protect.Difference `json:"differences"`
}

func newRepoProtectCmd(a *App) *cobra.Command {
	var check, apply bool
	var repo, settings, tokenFile, apiURL string
	cmd := &cobra.Command{
		Use:   "protect (--check | --apply) --repo OWNER/NAME [--settings .github/settings.yml]",
		Short: "Compare (--check) or make (--apply) GitHub's branch protection match the committed settings",
		Long: `protect keeps a repository's branch protection and merge settings equal to
.github/settings.yml: required checks, one CODEOWNERS approval, linear history,
no force push, branches deleted after merge, signed commits as an option.

--check exits 1 and prints every difference when GitHub differs; --apply
changes only what differs and checks again. The token comes from GITHUB_TOKEN
or --token-file (never a flag value, never printed); --apply needs admin
rights on the repository.`,
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
				r.Differences, err = protect.Apply(cmd.Context(), c, owner, name, s)
			} else {
				r.Differences, err = protect.Check(cmd.Context(), c, owner, name, s)
			}
			if err != nil {
				return err
			}
			r.Matches = apply || len(r.Differences) == 0
			if err := a.Render(r, func(w io.Writer) error { return writeProtect(w, r) }); err != nil {
				return err
			}
			if !r.Matches {
				return fault.Refusedf("%s differs from %s in %d settings; run smpctl repo protect --apply --repo %s", repo, settings, len(r.Differences), repo)
			}
			return nil
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

func writeProtect(w io.Writer, r protectReport) error {
	switch {
	case r.Mode == "apply" && len(r.Differences) == 0:
		_, err := fmt.Fprintf(w, "%s already matches %s; nothing changed\n", r.Repo, r.Settings)
		return err
	case r.Mode == "apply":
		fmt.Fprintf(w, "%s now matches %s; changed:\n", r.Repo, r.Settings)
	case len(r.Differences) == 0:
		_, err := fmt.Fprintf(w, "%s matches %s\n", r.Repo, r.Settings)
		return err
	default:
		fmt.Fprintf(w, "%s differs from %s:\n", r.Repo, r.Settings)
	}
	for _, d := range r.Differences {
		if _, err := fmt.Fprintf(w, "  %s\n", d); err != nil {
			return err
		}
	}
	return nil
}
