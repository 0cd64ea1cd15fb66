package release

import (
	"errors"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/semver"

	"github.com/smp/delivery/internal/fault"
)

func TestApplyBumpsByTheRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prev    string
		hasPrev bool
		bump    Bump
		want    string
	}{
		{"1.2.3", true, Major, "2.0.0"},
		{"1.2.3", true, Minor, "1.3.0"},
		{"1.2.3", true, Patch, "1.2.4"},
		{"1.2.3", true, None, "1.2.3"},
		// 0.x: one place to the right, never 1.0.0 by itself
		{"0.3.1", true, Major, "0.4.0"},
		{"0.3.1", true, Minor, "0.3.2"},
		{"0.3.1", true, Patch, "0.3.2"},
		{"0.0.4", true, Major, "0.1.0"},
		// no release yet
		{"0.0.0", false, Major, "0.1.0"},
		{"0.0.0", false, Patch, "0.1.0"},
		// a pre-release base drops its suffix
		{"2.0.0-rc.3", true, Patch, "2.0.1"},
	}
	for _, tc := range tests {
		prev, err := semver.Parse(tc.prev)
		if err != nil {
			t.Fatal(err)
		}
		if got := Apply(prev, tc.hasPrev, tc.bump).String(); got != tc.want {
			t.Errorf("Apply(%s, %v, %s) = %s, want %s", tc.prev, tc.hasPrev, tc.bump, got, tc.want)
		}
	}
	for _, tc := range []struct {
		prev      semver.Version
		hasPrev   bool
		bump, eff Bump
	}{
		{semver.Version{Major: 1}, true, Major, Major},
		{semver.Version{Minor: 3}, true, Major, Minor},
		{semver.Version{Minor: 3}, true, Minor, Patch},
		{semver.Version{Minor: 3}, true, Patch, Patch},
		{semver.Version{}, false, Patch, Minor},
		{semver.Version{Major: 2}, true, None, None},
	} {
		if got := Effective(tc.prev, tc.hasPrev, tc.bump); got != tc.eff {
			t.Errorf("Effective(%s, %v, %s) = %s, want %s", tc.prev, tc.hasPrev, tc.bump, got, tc.eff)
		}
	}
}

func TestNextVersionFromCommitsSinceTheLastRelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tag     string // the last release, "" for none
		commits []string
		want    string // "" for nothing to release
		bump    Bump
	}{
		{"first release from a feature", "", []string{"feat: first"}, "v0.1.0", Minor},
		{"first release from a fix", "", []string{"fix: first"}, "v0.1.0", Minor},
		{"nothing but chores before any release", "", []string{"chore: init", "docs: readme"}, "", None},
		{"a fix after 1.x", "v1.2.3", []string{"fix: a", "docs: b"}, "v1.2.4", Patch},
		{"perf is a patch", "v1.2.3", []string{"perf: a"}, "v1.2.4", Patch},
		{"revert is a patch", "v1.2.3", []string{"revert: feat: a"}, "v1.2.4", Patch},
		{"a feature after 1.x", "v1.2.3", []string{"fix: a", "feat(api): b", "chore: c"}, "v1.3.0", Minor},
		{"a bang after 1.x", "v1.2.3", []string{"feat: a", "refactor(db)!: b"}, "v2.0.0", Major},
		{"a BREAKING CHANGE footer after 1.x", "v1.2.3", []string{"fix: a\n\nBREAKING CHANGE: b"}, "v2.0.0", Major},
		{"the BREAKING-CHANGE synonym", "v1.2.3", []string{"fix: a\n\nBREAKING-CHANGE: b"}, "v2.0.0", Major},
		{"a feature on 0.x is a patch", "v0.3.1", []string{"feat: a"}, "v0.3.2", Patch},
		{"a breaking change on 0.x is a minor", "v0.3.1", []string{"feat!: a", "fix: b"}, "v0.4.0", Minor},
		{"malformed commits are other and release nothing", "v1.0.0", []string{"Fix stuff", "feat:nospace", "WIP"}, "", None},
		{"malformed commits beside a fix", "v1.0.0", []string{"Fix stuff", "fix: real"}, "v1.0.1", Patch},
		{"no commits since the release", "v1.0.0", nil, "", None},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newGitRepo(t)
			r.commit("chore: initial")
			if tc.tag != "" {
				r.tag(tc.tag)
			}
			for _, m := range tc.commits {
				r.commit(m)
			}
			n, err := NextVersion(ctx(t), r.opts(), false)
			if err != nil {
				t.Fatal(err)
			}
			if n.Tag != tc.want || n.Release != (tc.want != "") || n.Bump != tc.bump || n.Previous != tc.tag {
				t.Errorf("next = %+v, want tag %q bump %s previous %q", n, tc.want, tc.bump, tc.tag)
			}
			if tc.want == "" && !strings.HasPrefix(n.Reason, "nothing to release") {
				t.Errorf("reason = %q", n.Reason)
			}
		})
	}
}

func TestNextVersionCountsTypesIncludingOther(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v2.0.0")
	for _, m := range []string{"feat: a", "feat(x): b", "fix: c", "Merge branch 'x'", "yolo", "chore(deps): d", "feat!: e"} {
		r.commit(m)
	}
	n, err := NextVersion(ctx(t), r.opts(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.TypeSummary(), "feat 3, fix 1, chore 1, other 2"; got != want {
		t.Errorf("TypeSummary = %q, want %q", got, want)
	}
	if n.Commits != 7 || n.Breaking != 1 || n.Tag != "v3.0.0" {
		t.Errorf("next = %+v", n)
	}
}

func TestNextRCSequences(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v1.2.3")
	r.commit("feat: a")
	next := func(rc bool) string {
		t.Helper()
		n, err := NextVersion(ctx(t), r.opts(), rc)
		if err != nil {
			t.Fatal(err)
		}
		return n.Tag
	}
	if got := next(true); got != "v1.3.0-rc.1" {
		t.Fatalf("first rc = %s", got)
	}
	r.tag("v1.3.0-rc.1")
	r.commit("fix: b")
	r.tag("v1.3.0-rc.2")
	r.tag("v1.4.0-rc.7") // another version's rc does not count
	if got := next(true); got != "v1.3.0-rc.3" {
		t.Errorf("after rc.2 = %s, want v1.3.0-rc.3", got)
	}
	if got := next(false); got != "v1.3.0" {
		t.Errorf("release after rcs = %s, want v1.3.0 (commits since the release, not the rc)", got)
	}
	r.commit("feat!: c")
	if got := next(true); got != "v2.0.0-rc.1" {
		t.Errorf("after a breaking change = %s, want v2.0.0-rc.1", got)
	}
	r.tag("v2.0.0")
	r.commit("fix: d")
	if got := next(true); got != "v2.0.1-rc.1" {
		t.Errorf("after v2.0.0 = %s, want v2.0.1-rc.1", got)
	}
}

func TestNextVersionPicksTheHighestReachableRelease(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v1.10.0")
	r.commit("fix: a")
	r.tag("v1.9.0")           // older version, newer commit: precedence wins, not order
	r.tag("v3.3.0-rollback")  // not a pipeline tag
	r.tag("order-svc/v9.0.0") // another service's tag
	r.git("switch", "--quiet", "-c", "hotfix")
	r.commit("fix: on a branch")
	r.tag("v5.0.0") // not reachable from main
	r.git("switch", "--quiet", "main")
	r.commit("fix: b")
	n, err := NextVersion(ctx(t), r.opts(), false)
	if err != nil {
		t.Fatal(err)
	}
	if n.Previous != "v1.10.0" || n.Tag != "v1.10.1" || n.Commits != 2 {
		t.Errorf("next = %+v, want v1.10.1 from v1.10.0 with 2 commits", n)
	}
}

func TestNextVersionWarnsWhenTheTagExistsOnAnotherBranch(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v1.0.0")
	r.git("switch", "--quiet", "-c", "hotfix")
	r.commit("fix: hot")
	r.tag("v1.0.1")
	r.git("switch", "--quiet", "main")
	r.commit("fix: b")
	n, err := NextVersion(ctx(t), r.opts(), false)
	if err != nil {
		t.Fatal(err)
	}
	if n.Tag != "v1.0.1" || !strings.Contains(n.Warning, "exists already") {
		t.Errorf("next = %+v, want v1.0.1 with a warning", n)
	}
}

func TestNextVersionSkipsMergeCommits(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v1.0.0")
	r.git("switch", "--quiet", "-c", "feat/x")
	r.commitIn("branch.txt", "", "fix: on the branch")
	r.git("switch", "--quiet", "main")
	r.commit("docs: on main")
	r.git("merge", "--quiet", "--no-ff", "-m", "feat: a merge commit message is not a change", "feat/x")
	n, err := NextVersion(ctx(t), r.opts(), false)
	if err != nil {
		t.Fatal(err)
	}
	if n.Tag != "v1.0.1" || n.Commits != 2 {
		t.Errorf("next = %+v, want v1.0.1 from 2 commits", n)
	}
}

func TestNextVersionInAMonorepo(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commitIn("services/order/main.go", "", "chore(order): initial")
	r.commitIn("services/dispatch/main.go", "", "chore(dispatch): initial")
	r.tag("order-svc/v1.4.0")
	r.tag("dispatch/v7.0.0")
	r.tag("v99.0.0")
	r.commitIn("services/dispatch/main.go", "", "feat(dispatch)!: breaks dispatch only")
	r.commitIn("services/order/main.go", "", "fix(order): a")
	r.commitIn("README.md", "", "feat: not in the service")
	o := r.opts()
	o.TagPrefix, o.Path = "order-svc/", "services/order/"
	n, err := NextVersion(ctx(t), o, true)
	if err != nil {
		t.Fatal(err)
	}
	if n.Tag != "order-svc/v1.4.1-rc.1" || n.Previous != "order-svc/v1.4.0" || n.Commits != 1 {
		t.Errorf("next = %+v, want order-svc/v1.4.1-rc.1 from 1 commit", n)
	}
	o.Path = ""
	if n, err = NextVersion(ctx(t), o, false); err != nil || n.Tag != "order-svc/v2.0.0" {
		t.Errorf("without --path: %+v, %v; want order-svc/v2.0.0", n, err)
	}
}

func TestNextVersionRefusesWhatItCannotReleaseFrom(t *testing.T) {
	t.Parallel()
	empty := newGitRepo(t)

	detached := newGitRepo(t)
	detached.commit("feat: a")
	detached.git("switch", "--quiet", "--detach", "HEAD")

	full := newGitRepo(t)
	for _, m := range []string{"feat: a", "fix: b", "fix: c"} {
		full.commit(m)
	}
	shallow := t.TempDir()
	gitcmdtest.GitEnv(t, "", releaseBot, "clone", "--quiet", "--depth=1", "file://"+full.dir, shallow)

	tests := []struct {
		name string
		o    Options
		want error
		msg  string
	}{
		{"a directory that is not a repository", Options{Dir: t.TempDir()}, ErrNotRepo, "work tree"},
		{"a directory that does not exist", Options{Dir: "/nonexistent/repo"}, ErrNotRepo, "work tree"},
		{"an empty history", empty.opts(), ErrEmptyHistory, "no commits yet"},
		{"a detached HEAD", detached.opts(), ErrDetached, "git switch main"},
		{"a shallow clone", Options{Dir: shallow}, ErrShallow, "fetch-depth: 0"},
		{"a path outside the repository", Options{Dir: full.dir, Path: "../x"}, ErrInvalidOption, "relative to the repository root"},
		{"a path that does not exist", Options{Dir: full.dir, Path: "services/nope"}, ErrInvalidOption, "does not exist at HEAD"},
		{"a prefix with a space", Options{Dir: full.dir, TagPrefix: "order svc/"}, ErrInvalidOption, "tag prefix"},
		{"a prefix that starts with v", Options{Dir: full.dir, TagPrefix: "v2/"}, ErrInvalidOption, "tag prefix"},
	}
	for _, tc := range tests {
		_, err := NextVersion(ctx(t), tc.o, false)
		if !errors.Is(err, tc.want) || !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %v mentioning %q", tc.name, err, tc.want, tc.msg)
		}
	}
}
