package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/verify/smoke"
)

func init() { register(newSmokeCmd) }

func newSmokeCmd(a *App) *cobra.Command {
	var o smoke.Options
	var tokenFile, junit string
	cmd := &cobra.Command{
		Use:   "smoke --url URL [--token-file F] [--expect-version V] [--junit FILE]",
		Short: "Smoke-test a deployed service: wait for its version, then health, a JWT read and the echo create",
		Long: `smoke waits until URL/health reports --expect-version (so it never passes
against the version that was there before), then sends the seed's three
requests: GET /health, GET /api/v1/catalog/services with the bearer token from
--token-file, and POST /api/v1/test/echo with a JSON body and an
Idempotency-Key. Exit 1 when a check fails. --junit writes a JUnit report.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fault.Invalidf("--token-file: %v", err)
				}
				o.Token = strings.TrimSpace(string(b))
			}
			if err := o.Validate(); err != nil {
				return err
			}
			res, err := smoke.Run(cmd.Context(), o)
			if junit != "" {
				if jerr := writeFile(junit, res.WriteJUnit); jerr != nil {
					return fmt.Errorf("--junit: %w", jerr)
				}
			}
			if rerr := a.Render(res, res.WriteText); rerr != nil {
				return rerr
			}
			if errors.Is(err, smoke.ErrFailed) {
				return err
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "base URL of the service (required)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the JWT for the authenticated read (never a flag value)")
	f.StringVar(&o.ExpectVersion, "expect-version", "", "wait until /health reports this version")
	f.DurationVar(&o.Wait, "wait", 2*time.Minute, "how long to wait for --expect-version")
	f.StringVar(&junit, "junit", "", "write a JUnit XML report to this file")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

// writeFile writes what write produces to path, or nothing on error.
func writeFile(path string, write func(io.Writer) error) error {
	var sb strings.Builder
	if err := write(&sb); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}
