package release

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"strings"
	"time"

	"github.com/smp/delivery/internal/conventional"
	"github.com/smp/delivery/internal/gitcmd"

	"github.com/smp/delivery/internal/fault"
)

// repo drives the git CLI in one work tree. We use the CLI rather than
// go-git here for three reasons: in GitHub Actions, actions/checkout leaves
// the push credentials as an http.extraheader in the repository's git
// config, which only the CLI honours; `git log -- <path>` limits history to
// a monorepo service natively and fast, where go-git diffs every commit's
// tree; and shallow, unborn and detached states, and the user's own
// settings (tag.gpgSign), behave exactly as they do in the developer's git.
type repo struct {
	dir             string
	timeout, netTTL time.Duration
	runner          gitcmd.Runner
}

func newRepo(o Options) *repo {
	return &repo{dir: o.Dir, timeout: o.Timeout, netTTL: o.NetworkTimeout, runner: gitcmd.Runner{
		// -C rather than a working directory: a --repo that does not
		// exist is git's "cannot change to" (not a repository, exit 2),
		// not a failure to start git.
		Global: []string{"-C", o.Dir},
		Config: map[string]string{"i18n.logOutputEncoding": "UTF-8", "color.ui": "false"},
	}}
}

// exitCode returns git's exit code, or -1 when git did not run to the end.
func exitCode(err error) int { return gitcmd.ExitCode(err) }

func (r *repo) run(ctx context.Context, timeout time.Duration, stdin []byte, args ...string) ([]byte, error) {
	g := r.runner
	g.Timeout = timeout
	out, err := g.RunInput(ctx, stdin, args...)
	if errors.Is(err, exec.ErrNotFound) {
		return nil, errGitNotOnPath
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// git runs a local git command and returns its output without the final newline.
func (r *repo) git(ctx context.Context, args ...string) (string, error) {
	out, err := r.run(ctx, r.timeout, nil, args...)
	return strings.TrimSuffix(string(out), "\n"), err
}

// state is where HEAD stands.
type state struct {
	Head    string // commit SHA
	Branch  string // short branch name; "" when detached
	Shallow bool
}

// state inspects the repository and refuses what a release cannot start
// from: no repository, no commit, and (unless detachedOK) a detached HEAD
// or (unless shallowOK) a shallow clone.
func (r *repo) state(ctx context.Context, detachedOK, shallowOK bool) (state, error) {
	var s state
	out, err := r.git(ctx, "rev-parse", "--is-shallow-repository")
	if err != nil {
		if errors.Is(err, errGitNotOnPath) || exitCode(err) < 0 {
			return s, err
		}
		return s, fault.Inputf("Dir", "%w: %s: %w; give the service repository's work tree", ErrNotRepo, r.dir, err)
	}
	s.Shallow = out == "true"
	if s.Head, err = r.git(ctx, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"); err != nil {
		if exitCode(err) == 1 {
			return s, fmt.Errorf("%w: %s has no commits yet; commit something before releasing", ErrEmptyHistory, r.dir)
		}
		return s, err
	}
	if s.Shallow && !shallowOK {
		return s, fmt.Errorf("%w: %s has only part of its history, so the commits since the last release and the existing tags cannot be known; run `git fetch --unshallow --tags` (GitHub Actions: actions/checkout with fetch-depth: 0)", ErrShallow, r.dir)
	}
	s.Branch, err = r.git(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		if exitCode(err) != 1 {
			return s, err
		}
		s.Branch = ""
		if !detachedOK {
			return s, fmt.Errorf("%w at %s in %s: releases are cut from a branch; run `git switch main` (or the branch you release from) first", ErrDetached, short(s.Head), r.dir)
		}
	}
	return s, nil
}

// checkPath makes sure a monorepo path exists at HEAD, so a typo is an
// error instead of an empty release.
func (r *repo) checkPath(ctx context.Context, p string) error {
	if p == "" {
		return nil
	}
	if _, err := r.git(ctx, "cat-file", "-e", "HEAD:"+cleanPath(p)); err != nil {
		if exitCode(err) > 0 {
			return fault.Inputf("Path", "%w: path %q does not exist at HEAD in %s; give the service's directory relative to the repository root", ErrInvalidOption, p, r.dir)
		}
		return err
	}
	return nil
}

// tags lists tag names; with merged set, only tags reachable from that commit.
func (r *repo) tags(ctx context.Context, merged string) ([]string, error) {
	args := []string{"for-each-ref", "--format=%(refname:strip=2)"}
	if merged != "" {
		args = append(args, "--merged", merged)
	}
	out, err := r.git(ctx, append(args, "refs/tags")...)
	if err != nil {
		return nil, err
	}
	if out == "" {
		return nil, nil
	}
	return strings.Split(out, "\n"), nil
}

// Commit is one commit of a release, newest first in every list.
type Commit struct {
	SHA    string `json:"sha"`
	Author string `json:"author"`
	Email  string `json:"email"`
	conventional.Commit
}

// log returns the non-merge commits in (from, to], newest first, limited to
// those touching p when p is set. An empty from means all of to's history.
func (r *repo) log(ctx context.Context, from, to, p string) ([]Commit, error) {
	rng := to
	if from != "" {
		rng = from + ".." + to
	}
	// -z separates commits with NUL, which a commit message cannot contain;
	// author names cannot contain newlines (git sanitises identities).
	args := []string{"--literal-pathspecs", "log", "-z", "--no-merges", "--format=%H%n%an%n%ae%n%B", rng, "--"}
	if p != "" {
		args = append(args, cleanPath(p))
	}
	out, err := r.run(ctx, r.timeout, nil, args...)
	if err != nil {
		return nil, err
	}
	var commits []Commit
	for _, rec := range strings.Split(string(out), "\x00") {
		rec = strings.TrimPrefix(rec, "\n")
		if rec == "" {
			continue
		}
		f := strings.SplitN(rec, "\n", 4)
		if len(f) < 3 {
			return nil, fmt.Errorf("git log: unexpected record %q", rec)
		}
		c := Commit{SHA: f[0], Author: f[1], Email: f[2]}
		if len(f) == 4 {
			c.Commit = conventional.Parse(f[3])
		} else {
			c.Commit = conventional.Parse("")
		}
		commits = append(commits, c)
	}
	return commits, nil
}

// isAncestor reports whether commit a is b or an ancestor of b.
func (r *repo) isAncestor(ctx context.Context, a, b string) (bool, error) {
	_, err := r.git(ctx, "merge-base", "--is-ancestor", a, b)
	if err == nil {
		return true, nil
	}
	if exitCode(err) == 1 {
		return false, nil
	}
	return false, err
}

// resolve returns the commit a ref points to; ok is false when it does not exist.
func (r *repo) resolve(ctx context.Context, ref string) (string, bool, error) {
	sha, err := r.git(ctx, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		if exitCode(err) == 1 {
			return "", false, nil
		}
		return "", false, err
	}
	return sha, true, nil
}

// show returns a file's content at a commit; ok is false when it is absent.
func (r *repo) show(ctx context.Context, rev, file string) ([]byte, bool, error) {
	spec := rev + ":" + cleanPath(file)
	if _, err := r.git(ctx, "cat-file", "-e", spec); err != nil {
		if exitCode(err) > 0 {
			return nil, false, nil
		}
		return nil, false, err
	}
	out, err := r.run(ctx, r.timeout, nil, "cat-file", "blob", spec)
	return out, err == nil, err
}

// remoteRefs lists refs on a remote (ls-remote) as name → object.
func (r *repo) remoteRefs(ctx context.Context, remote string, patterns ...string) (map[string]string, error) {
	out, err := r.run(ctx, r.netTTL, nil, append([]string{"ls-remote", "--refs", remote}, patterns...)...)
	if err != nil {
		return nil, fmt.Errorf("list refs of remote %q: %w", remote, err)
	}
	refs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		sha, name, ok := strings.Cut(line, "\t")
		if ok {
			refs[name] = sha
		}
	}
	return refs, nil
}

// createTag makes an annotated tag at commit; the message comes on stdin so
// no part of it is read as an option.
func (r *repo) createTag(ctx context.Context, name, commit, message string) error {
	_, err := r.run(ctx, r.timeout, []byte(message), "tag", "--annotate", "--file=-", "--", name, commit)
	if err != nil {
		return fmt.Errorf("create tag %s: %w", name, err)
	}
	return nil
}

func (r *repo) deleteTag(ctx context.Context, name string) error {
	if _, err := r.git(ctx, "tag", "--delete", "--", name); err != nil {
		return fmt.Errorf("delete tag %s: %w", name, err)
	}
	return nil
}

// pushTag pushes one tag and nothing else (no --follow-tags, no branches).
func (r *repo) pushTag(ctx context.Context, remote, name string) error {
	ref := "refs/tags/" + name
	if _, err := r.run(ctx, r.netTTL, nil, "push", "--porcelain", remote, ref+":"+ref); err != nil {
		return fmt.Errorf("%w: push %s to %s: %w", ErrPushRefused, name, remote, err)
	}
	return nil
}

func cleanPath(p string) string { return path.Clean(p) }

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
