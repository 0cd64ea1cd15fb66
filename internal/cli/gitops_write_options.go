package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/ciidentity"
	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/write"
)

// writeOptions are the flags every command that writes the GitOps
// repository shares (deploy, promote, approve, rollback, hold, freeze).
type writeOptions struct {
	gitops      string
	branch      string
	caFile      string
	cacheDir    string
	by          string
	run         string
	authorName  string
	authorEmail string
	changeID    string
	signingKey  string
	timeout     time.Duration
	// oidc: prove the CI run --run names with its OIDC token, issued by
	// oidcIssuer.
	oidc       bool
	oidcIssuer string
	// proven: what the run's OIDC token, verified by open (--oidc), says
	// of the run; nil without --oidc.
	proven *write.ProvenRun
	// writes: the command records a person (it has --by), so its commits
	// are signed when a key is at hand.
	writes bool
	// actsForFlag names the flag whose person the run acts for, and
	// actsFor holds its value: with --oidc a value given must be the
	// run's actor, so the name recorded is one the token proves. --by by
	// default; approve's is --requested-by (its --by is the reviewer).
	actsForFlag string
	actsFor     *string
}

// addWriteFlags adds the shared flags; byHelp "" marks a read-only command,
// which gets only the remote's flags.
func addWriteFlags(cmd *cobra.Command, o *writeOptions, byHelp string) {
	f := cmd.Flags()
	f.StringVar(&o.gitops, "gitops", "", "GitOps repository: a local path, file://, https:// (token from SMP_GIT_TOKEN) or ssh (agent)")
	f.StringVar(&o.branch, "gitops-branch", "main", "branch of the GitOps repository to write")
	f.StringVar(&o.caFile, "gitops-ca-file", "", "PEM file of an extra certificate authority for an https GitOps remote")
	f.DurationVar(&o.timeout, "gitops-timeout", 2*time.Minute, "total time budget for the command, retries included")
	addCacheDirFlag(cmd, &o.cacheDir)
	if byHelp == "" {
		return // a read-only command
	}
	o.writes = true
	o.actsForFlag, o.actsFor = "--by", &o.by
	f.StringVar(&o.by, "by", "", byHelp)
	f.StringVar(&o.run, "run", "", "URL of the pipeline run, recorded as Pipeline-Run")
	f.StringVar(&o.authorName, "git-author-name", "", "commit author and committer name (default: delivery.yaml identity, else smpctl-bot)")
	f.StringVar(&o.authorEmail, "git-author-email", "", "commit author and committer email")
	f.StringVar(&o.signingKey, "signing-key", "", signingKeyHelp)
	f.BoolVar(&o.oidc, "oidc", false, "prove the CI run --run names with the job's GitHub Actions OIDC token (needs `permissions: id-token: write`): verified against the issuer's keys, its claims recorded as OIDC-* trailers; --by (approve: --requested-by) must then be the run's actor")
	f.StringVar(&o.oidcIssuer, "oidc-issuer", ciidentity.GitHubIssuer, "with --oidc: the issuer the token must come from")
	f.StringVar(&o.changeID, "change-id", "", "an id for this change, recorded as Change-Id: running the command again with the same id does nothing once the change has landed (for CI re-runs, e.g. ${{ github.run_id }}-deploy-dev)")
}

// open validates the shared flags and opens the remote. The token comes
// from SMP_GIT_TOKEN only: never a flag, never printed.
func (o *writeOptions) open(ctx context.Context, a *App) (*gitops.Repo, error) {
	if o.gitops == "" {
		return nil, fault.Invalidf("missing --gitops: give the GitOps repository (a path, file://, https:// or ssh URL), or set SMP_GITOPS")
	}
	if (o.authorName == "") != (o.authorEmail == "") {
		return nil, fault.Invalidf("give both --git-author-name and --git-author-email (or SMP_GIT_AUTHOR_NAME and SMP_GIT_AUTHOR_EMAIL), or neither")
	}
	if o.by != "" {
		if err := delivery.CheckPerson("--by", o.by); err != nil {
			return nil, err
		}
	}
	if o.changeID != "" && !changeIDRE.MatchString(o.changeID) {
		return nil, fault.Invalidf("--change-id %q: use 1 to 128 letters, digits, '.', '_' or '-'", o.changeID)
	}
	if o.timeout <= 0 {
		return nil, fault.Invalidf("--gitops-timeout %s: must be positive", o.timeout)
	}
	var sig gitops.Signer
	var proven []gitops.Trailer
	if o.writes {
		var err error
		if sig, err = o.signer(ctx); err != nil {
			return nil, err
		}
		if proven, o.proven, err = o.proveRun(ctx, a); err != nil {
			return nil, err
		}
	}
	var author *gitops.Identity
	if o.authorName != "" {
		// Every commit of the command, the notification records too.
		author = &gitops.Identity{Name: o.authorName, Email: o.authorEmail}
	}
	return write.Open(gitops.Remote{URL: o.gitops, Branch: o.branch, Token: a.Getenv("SMP_GIT_TOKEN"), CAFile: o.caFile},
		gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"},
		gitops.Options{Budget: o.timeout, CallTimeout: min(o.timeout, 60*time.Second), Log: a.Log, CacheDir: gitopsCacheDir(a, o.cacheDir), Signer: sig, Author: author, Trailers: proven})
}

// oidcTimeout bounds asking for the run's token and verifying it.
const oidcTimeout = 30 * time.Second

// proveRun is --oidc: the trailers of the run the job's OIDC token proves,
// and what the write binds to it, once it is verified and names the run
// --run gives (nil without --oidc).
func (o *writeOptions) proveRun(ctx context.Context, a *App) ([]gitops.Trailer, *write.ProvenRun, error) {
	if !o.oidc {
		if o.oidcIssuer != ciidentity.GitHubIssuer {
			return nil, nil, fault.Invalidf("--oidc-issuer says which issuer --oidc trusts: add --oidc, or drop it")
		}
		return nil, nil, nil
	}
	if o.run == "" {
		return nil, nil, fault.Invalidf("--oidc proves the CI run --run names: give --run (e.g. $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID)")
	}
	ctx, cancel := context.WithTimeout(ctx, oidcTimeout)
	defer cancel()
	id, err := ciidentity.FromGitHubActions(ctx, a.Getenv, ciidentity.Options{Issuer: o.oidcIssuer, Now: a.Now})
	if err != nil {
		return nil, nil, err
	}
	if !id.Names(o.run) {
		return nil, nil, fault.Invalidf("--run %s is not the run the OIDC token proves (%s run %s): give this run's URL, %s",
			o.run, id.Repository, id.RunID, id.RunURL(cmp.Or(a.Getenv("GITHUB_SERVER_URL"), "https://github.com")))
	}
	if o.actsFor != nil && *o.actsFor != "" && *o.actsFor != id.Actor {
		return nil, nil, fault.Invalidf("%s %s is not who this run acts for: its OIDC token names %s (the run's actor); in CI give %s \"$GITHUB_ACTOR\", or drop --oidc to record a name the token does not prove",
			o.actsForFlag, *o.actsFor, id.Actor, o.actsForFlag)
	}
	a.Log.Info("the run's OIDC token is verified", "issuer", id.Issuer, "subject", id.Subject, "run", id.Run(), "actor", id.Actor,
		"environment", id.Environment, "jobWorkflow", id.JobWorkflow)
	trailers := []gitops.Trailer{
		{Key: "OIDC-Issuer", Value: id.Issuer},
		{Key: "OIDC-Subject", Value: id.Subject},
		{Key: "OIDC-Workflow", Value: id.Workflow},
	}
	if id.JobWorkflow != "" {
		trailers = append(trailers, gitops.Trailer{Key: "OIDC-Job-Workflow", Value: id.JobWorkflow})
	}
	trailers = append(trailers,
		gitops.Trailer{Key: "OIDC-Run", Value: id.Run()},
		gitops.Trailer{Key: "OIDC-Actor", Value: id.Actor},
		gitops.Trailer{Key: "OIDC-SHA", Value: id.SHA})
	return trailers, &write.ProvenRun{Repository: id.Repository, Environment: id.Environment, JobWorkflow: id.JobWorkflow}, nil
}

// common is the deploy.Common of the shared flags.
func (o *writeOptions) common(a *App) write.Common {
	return write.Common{
		By: o.by, Run: o.run, Proven: o.proven, Now: a.Now(), ChangeID: o.changeID,
		Identity: gitops.Identity{Name: o.authorName, Email: o.authorEmail},
	}
}

// overrideFreeze turns --override-freeze and --reason into the reason to
// record, refusing an override without a reason.
func overrideFreeze(override bool, reason string) (string, error) {
	if !override {
		return "", nil
	}
	if reason == "" {
		return "", fault.Invalidf("--override-freeze needs --reason TEXT: the reason is recorded in the commit (Override-Freeze)")
	}
	return reason, nil
}

var (
	shaRE      = regexp.MustCompile(`^[0-9a-f]{40}$`)
	changeIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
)

// source parses --source-commit, --source-time and --source-repo.
func source(commit, at, repo string) (write.Source, error) {
	s := write.Source{Commit: commit, Repo: repo}
	if commit != "" && !shaRE.MatchString(commit) {
		return s, fault.Invalidf("--source-commit %q: give the full 40-character lower-case commit hash (git rev-parse HEAD)", commit)
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return s, fault.Invalidf("--source-time %q: give an RFC 3339 time such as 2026-11-25T09:30:00Z (git show -s --format=%%cI HEAD)", at)
		}
		s.Time = t
	}
	if repo != "" && commit == "" {
		return s, fault.Invalidf("--source-repo needs --source-commit: ancestry is decided for that commit")
	}
	return s, nil
}

// renderOutcome prints what a write did.
func renderOutcome(a *App, out write.Outcome) error {
	return a.Render(out, func(w io.Writer) error {
		if out.AlreadyDone {
			_, err := fmt.Fprintln(w, out.Message)
			return err
		}
		short := out.Commit
		if len(short) > 12 {
			short = short[:12]
		}
		attempts := ""
		if out.Attempts > 1 {
			attempts = fmt.Sprintf(" after %d attempts", out.Attempts)
		}
		_, err := fmt.Fprintf(w, "%s\ncommitted %s and pushed%s\n", out.Message, short, attempts)
		return err
	})
}
