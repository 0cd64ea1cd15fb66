package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/plan"
	"github.com/smp/delivery/internal/semver"

	"github.com/smp/delivery/internal/fault"
)

// TagOptions say which tag to make and how.
type TagOptions struct {
	// Version is vX.Y.Z or vX.Y.Z-rc.N, with or without the tag prefix.
	Version string
	// Push sends the tag (and only the tag) to Remote; without it the tag
	// stays local and nothing leaves the machine.
	Push bool
	// Remote to check and push to (default origin).
	Remote string
	// Message of the annotated tag (default "Release <tag>").
	Message string
	// Changelog file to check (default CHANGELOG.md, see Check);
	// SkipChangelog skips the check for repositories that keep none.
	Changelog     string
	SkipChangelog bool
	// DryRun runs every check and reports, but creates nothing.
	DryRun bool
	// Config gives the main branch and what CD does with the tag (plan);
	// default: delivery.Default().
	Config *delivery.Config
}

// TagResult is what Tag did.
type TagResult struct {
	Tag     string `json:"tag"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// OnMain names the ref HEAD was found on, e.g. refs/remotes/origin/main.
	OnMain string `json:"onMain"`
	// Latest is the latest release before this tag ("" for the first).
	Latest    string       `json:"latest,omitempty"`
	Changelog *CheckResult `json:"changelog,omitempty"`
	Created   bool         `json:"created"`
	Pushed    bool         `json:"pushed"`
	Remote    string       `json:"remote"`
	DryRun    bool         `json:"dryRun,omitempty"`
	// Plan is what CD does when the tag reaches the remote (plan.For).
	Plan plan.Plan `json:"plan"`
}

// Tag creates an annotated tag for a version at HEAD, after checking that
// the version is a valid pipeline tag (semver.ParseTag, as plan), that HEAD
// is a commit of the main branch, that the tag exists neither locally nor
// (with Push) on the remote, that the version is above the latest release
// and above every rc of the same version, and that the changelog has a
// section for it.
//
// "A commit of the main branch" means HEAD is the tip or an ancestor of
// refs/heads/<main> or refs/remotes/<remote>/<main>; with Push, of the
// remote's own main (ls-remote), so a tag never publishes a commit the
// remote's main does not contain. A failed push deletes the local tag
// again: nothing is left half done.
func Tag(ctx context.Context, o Options, to TagOptions) (TagResult, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return TagResult{}, err
	}
	if to.Remote == "" {
		to.Remote = "origin"
	}
	// The remote goes on git's command line: it must not read as an option.
	if strings.HasPrefix(to.Remote, "-") || strings.ContainsFunc(to.Remote, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return TagResult{}, fault.Inputf("Remote", "%w: remote %q: give a remote name such as origin, or a URL", ErrInvalidOption, to.Remote)
	}
	cfg := delivery.Default()
	if to.Config != nil {
		c := *to.Config
		cfg = &c
	}
	if cfg.MainBranch == "" {
		cfg.MainBranch = delivery.Default().MainBranch
	}
	cfg.TagPrefix = o.TagPrefix
	t, err := ParseVersion(to.Version, o.TagPrefix, false)
	if err != nil {
		return TagResult{}, err
	}
	name := o.tagName(t.Version)
	res := TagResult{Tag: name, Version: t.Version.String(), DryRun: to.DryRun, Remote: to.Remote}
	if res.Plan, err = plan.For(cfg, "refs/tags/"+name); err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidVersion, err)
	}
	r := newRepo(o)
	st, err := r.state(ctx, false, false)
	if err != nil {
		return res, err
	}
	res.Commit = st.Head

	local, err := r.tags(ctx, "")
	if err != nil {
		return res, fmt.Errorf("list tags: %w", err)
	}
	var remote map[string]string
	if to.Push {
		if remote, err = r.remoteRefs(ctx, to.Remote, "refs/heads/"+cfg.MainBranch, "refs/tags/*"); err != nil {
			return res, err
		}
	}
	if res.OnMain, err = onMain(ctx, r, st.Head, cfg.MainBranch, to.Remote, to.Push, remote); err != nil {
		return res, err
	}
	if err := checkNewAndHigher(o, t, name, local, remote, &res); err != nil {
		return res, err
	}
	if !to.SkipChangelog {
		// The same rule as `release check`, so a tag never passes what the
		// check refuses (or the other way round).
		cr, err := r.checkChangelog(ctx, o, t, st.Head, changelogFile(o, to.Changelog), ", or skip the changelog check if this repository keeps none")
		res.Changelog = &cr
		if err != nil {
			return res, err
		}
	}
	if to.DryRun {
		return res, nil
	}
	msg := to.Message
	if msg == "" {
		msg = "Release " + name
	}
	if err := r.createTag(ctx, name, st.Head, msg+"\n"); err != nil {
		return res, err
	}
	res.Created = true
	if !to.Push {
		return res, nil
	}
	if err := r.pushTag(ctx, to.Remote, name); err != nil {
		if derr := r.deleteTag(ctx, name); derr != nil {
			return res, errors.Join(err, fmt.Errorf("the local tag %s is left behind: %w", name, derr))
		}
		res.Created = false
		return res, err
	}
	res.Pushed = true
	return res, nil
}

// onMain returns the main-branch ref that contains head.
func onMain(ctx context.Context, r *repo, head, main, remote string, push bool, remoteRefs map[string]string) (string, error) {
	if push {
		sha, ok := remoteRefs["refs/heads/"+main]
		if !ok {
			return "", fmt.Errorf("%w: remote %q has no branch %q; push the main branch first, or set mainBranch in delivery.yaml", ErrNotOnMain, remote, main)
		}
		if _, have, err := r.resolve(ctx, sha); err != nil {
			return "", err
		} else if !have {
			return "", fmt.Errorf("%w: %s/%s is at %s, which this clone does not have; run `git fetch %s` and check HEAD is on it", ErrNotOnMain, remote, main, short(sha), remote)
		}
		ok, err := r.isAncestor(ctx, head, sha)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("%w: HEAD (%s) is not on %s/%s (%s); tag a commit that was merged to %s", ErrNotOnMain, short(head), remote, main, short(sha), main)
		}
		return remote + "/" + main, nil
	}
	var tried []string
	for _, ref := range []string{"refs/heads/" + main, "refs/remotes/" + remote + "/" + main} {
		sha, ok, err := r.resolve(ctx, ref)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		tried = append(tried, strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/remotes/"))
		if yes, err := r.isAncestor(ctx, head, sha); err != nil {
			return "", err
		} else if yes {
			return tried[len(tried)-1], nil
		}
	}
	if len(tried) == 0 {
		return "", fmt.Errorf("%w: neither %s nor %s/%s exists in this clone; fetch the main branch, or set mainBranch in delivery.yaml", ErrNotOnMain, main, remote, main)
	}
	return "", fmt.Errorf("%w: HEAD (%s) is not on %s; release tags go on commits merged to %s", ErrNotOnMain, short(head), strings.Join(tried, " or "), main)
}

// checkNewAndHigher refuses a tag that exists or a version that is not
// above the latest release, or not above an rc of the same version.
func checkNewAndHigher(o Options, t semver.Tag, name string, local []string, remote map[string]string, res *TagResult) error {
	names := append([]string(nil), local...)
	for ref := range remote {
		if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
			if tag == name {
				return fmt.Errorf("%w: %s exists on the remote %s; a release tag is never moved, choose the next version (`smpctl release next`)", ErrTagExists, name, res.Remote)
			}
			names = append(names, tag)
		}
	}
	var latest, latestRC semver.Tag
	var hasLatest, hasRC bool
	for _, n := range names {
		if n == name {
			return fmt.Errorf("%w: %s exists already; a release tag is never moved, choose the next version (`smpctl release next`)", ErrTagExists, name)
		}
		pt, ok := o.parseTagName(n)
		if !ok {
			continue
		}
		switch {
		case pt.Kind == semver.Release && (!hasLatest || pt.Version.Compare(latest.Version) > 0):
			latest, hasLatest = pt, true
		case pt.Kind == semver.RC && pt.Version.Core().Compare(t.Version.Core()) == 0 && (!hasRC || pt.RC > latestRC.RC):
			latestRC, hasRC = pt, true
		}
	}
	if hasLatest {
		res.Latest = o.TagPrefix + latest.String()
		if t.Version.Compare(latest.Version) <= 0 {
			return fmt.Errorf("%w: %s is not above the latest release %s; versions only go up (`smpctl release next` gives the next one)", ErrLowerVersion, name, res.Latest)
		}
	}
	if t.Kind == semver.RC && hasRC && t.RC <= latestRC.RC {
		return fmt.Errorf("%w: %s is not above %s%s; the next release candidate is %s", ErrLowerVersion, name, o.TagPrefix, latestRC, o.tagName(semver.RCVersion(t.Version, latestRC.RC+1)))
	}
	return nil
}
