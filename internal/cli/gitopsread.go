package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/history"
)

// readFlags are the flags every GitOps reader (status, diff, history,
// metrics) shares.
type readFlags struct {
	gitops       string
	cacheDir     string
	caFile       string
	fetchTimeout time.Duration
}

func (f *readFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.gitops, "gitops", "", "GitOps repository: a local clone or bare repository (read in place), or a URL (cloned into the cache, then fetched)")
	addCacheDirFlag(cmd, &f.cacheDir)
	cmd.Flags().DurationVar(&f.fetchTimeout, "gitops-timeout", history.DefaultFetchTimeout, "time limit for cloning or fetching a remote GitOps repository")
	cmd.Flags().StringVar(&f.caFile, "gitops-ca-file", "", "PEM file of an extra certificate authority for an https GitOps remote")
}

// open opens the repository; tokens come from SMP_GIT_TOKEN, never a flag.
func (f *readFlags) open(ctx context.Context, a *App) (*history.Repo, error) {
	o := history.OpenOptions{CacheDir: gitopsCacheDir(a, f.cacheDir), FetchTimeout: f.fetchTimeout, Token: a.Getenv("SMP_GIT_TOKEN")}
	if f.caFile != "" {
		if _, err := os.Stat(f.caFile); err != nil {
			return nil, fault.Invalidf("--gitops-ca-file %s: %v: give a PEM file of the certificate authority", f.caFile, errors.Unwrap(err))
		}
		o.CAFile = f.caFile
	}
	return history.Open(ctx, f.gitops, o)
}

// addCacheDirFlag adds --cache-dir, shared by every command that reaches a
// GitOps remote: they all use the same mirror of it.
func addCacheDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "cache-dir", "", "where the mirrors of GitOps remotes every smpctl command shares are kept (default $XDG_CACHE_HOME/smpctl/gitops)")
}

// gitopsCacheDir is --cache-dir, else $XDG_CACHE_HOME/smpctl/gitops, else
// $HOME/.cache/smpctl/gitops.
func gitopsCacheDir(a *App, flag string) string {
	if flag != "" {
		return flag
	}
	base := a.Getenv("XDG_CACHE_HOME")
	if base == "" {
		base = filepath.Join(a.Getenv("HOME"), ".cache")
	}
	return filepath.Join(base, "smpctl", "gitops")
}

const tableTime = "2006-01-02T15:04Z"

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(tableTime)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return orDash(s)
}
