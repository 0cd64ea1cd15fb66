package release

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/delivery"

	"github.com/smp/delivery/internal/fault"
)

// releasable is a repository on main whose CHANGELOG.md has a section for
// 1.3.0, one release (v1.2.0) and a feature since.
func releasable(t *testing.T) *gitRepo {
	t.Helper()
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v1.2.0")
	r.commit("feat: a")
	r.writeFile("CHANGELOG.md", "# Changelog\n\n## [1.3.0] - 2026-11-25\n\n### Added\n\n- a\n")
	r.git("add", "CHANGELOG.md")
	r.commit("chore(release): 1.3.0 (#9)")
	return r
}

// withRemote gives r a bare origin holding its main branch and tags.
func withRemote(t *testing.T, r *gitRepo) string {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "origin.git")
	gitcmdtest.GitEnv(t, "", releaseBot, "init", "--quiet", "--bare", "--initial-branch=main", bare)
	r.git("remote", "add", "origin", bare)
	r.git("push", "--quiet", "origin", "main", "--tags")
	return bare
}

func remoteHasTag(t *testing.T, bare, name string) bool {
	t.Helper()
	err := exec.Command("git", "-C", bare, "rev-parse", "--verify", "--quiet", "refs/tags/"+name).Run()
	return err == nil
}

func TestTagCreatesAnAnnotatedTagAndSaysWhatCDDoes(t *testing.T) {
	t.Parallel()
	r := releasable(t)
	for _, tc := range []struct{ version, env string }{{"v1.3.0-rc.1", "staging"}, {"v1.3.0-rc.2", "staging"}, {"v1.3.0", "prod"}} {
		res, err := Tag(ctx(t), r.opts(), TagOptions{Version: tc.version})
		if err != nil {
			t.Fatalf("Tag(%s): %v", tc.version, err)
		}
		if !res.Created || res.Pushed || res.OnMain != "main" || res.Plan.Environment != tc.env || res.Changelog == nil || res.Changelog.Line != 3 {
			t.Errorf("Tag(%s) = %+v", tc.version, res)
		}
		if typ := r.git("cat-file", "-t", "refs/tags/"+tc.version); typ != "tag" {
			t.Errorf("%s is a %s, want an annotated tag", tc.version, typ)
		}
		if got := r.git("rev-list", "-n1", tc.version); got != res.Commit {
			t.Errorf("%s points at %s, want HEAD %s", tc.version, got, res.Commit)
		}
		if msg := r.git("tag", "-l", "--format=%(contents)", tc.version); msg != "Release "+tc.version {
			t.Errorf("message = %q", msg)
		}
	}
}

func TestTagRefusals(t *testing.T) {
	t.Parallel()
	r := releasable(t)
	r.tag("v1.3.0-rc.2")
	r.tag("v0.9.0-rc.1")
	tests := []struct {
		name, version string
		want          error
		msg           string
	}{
		{"a tag that exists", "v1.3.0-rc.2", ErrTagExists, "exists already"},
		{"the latest release again", "v1.2.0", ErrTagExists, "exists already"},
		{"a version below the latest release", "v1.1.9", ErrLowerVersion, "not above the latest release v1.2.0"},
		{"an rc of a released version", "v1.2.0-rc.9", ErrLowerVersion, "not above the latest release"},
		{"an rc below the latest rc", "v1.3.0-rc.1", ErrLowerVersion, "the next release candidate is v1.3.0-rc.3"},
		{"a version without v", "1.3.0", ErrInvalidVersion, "did you mean v1.3.0?"},
		{"a rollback tag", "v3.3.0-rollback", ErrInvalidVersion, "the only pre-release allowed is rc.N"},
		{"build metadata", "v1.3.0+b1", ErrInvalidVersion, "build metadata"},
		{"two parts", "v1.3", ErrInvalidVersion, "MAJOR.MINOR.PATCH"},
		{"an empty version", "", ErrInvalidVersion, `must start with "v" (vX.Y.Z or vX.Y.Z-rc.N)`},
		{"no changelog section", "v1.4.0", ErrNoSection, "has no section for v1.4.0"},
	}
	for _, tc := range tests {
		before := r.git("tag", "-l")
		_, err := Tag(ctx(t), r.opts(), TagOptions{Version: tc.version})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %v mentioning %q", tc.name, err, tc.want, tc.msg)
		}
		if after := r.git("tag", "-l"); after != before {
			t.Errorf("%s: tags changed from %q to %q", tc.name, before, after)
		}
	}
	for _, remote := range []string{"--upload-pack=touch /tmp/pwned", "origin main", "-o"} {
		if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.4.0", Push: true, Remote: remote}); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("--remote %q: err = %v, want ErrInvalidOption", remote, err)
		}
	}
	if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.4.0", SkipChangelog: true, DryRun: true}); err != nil {
		t.Errorf("--skip-changelog-check: %v", err)
	}
}

func TestTagOnlyOnACommitOfMain(t *testing.T) {
	t.Parallel()
	r := releasable(t)
	r.git("switch", "--quiet", "-c", "feat/x")
	r.commit("feat: not merged")
	_, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", SkipChangelog: true})
	if !errors.Is(err, ErrNotOnMain) || !strings.Contains(err.Error(), "is not on main") {
		t.Errorf("feature branch: err = %v", err)
	}
	// A branch whose HEAD is a commit of main may tag it.
	r.git("reset", "--quiet", "--hard", "main")
	if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", DryRun: true}); err != nil {
		t.Errorf("branch at main's commit: %v", err)
	}
	// A repository whose main branch is called trunk, per delivery.yaml.
	cfg := delivery.Default()
	cfg.MainBranch = "trunk"
	if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", Config: cfg}); !errors.Is(err, ErrNotOnMain) || !strings.Contains(err.Error(), "neither trunk nor origin/trunk exists") {
		t.Errorf("no trunk: err = %v", err)
	}
	r.git("switch", "--quiet", "--detach", "main")
	if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0"}); !errors.Is(err, ErrDetached) {
		t.Errorf("detached: err = %v", err)
	}
}

func TestTagPushesOnlyTheTag(t *testing.T) {
	t.Parallel()
	r := releasable(t)
	bare := withRemote(t, r)
	res, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0-rc.1", Push: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pushed || res.OnMain != "origin/main" || res.Remote != "origin" || !remoteHasTag(t, bare, "v1.3.0-rc.1") {
		t.Errorf("push: %+v", res)
	}
	// A tag that exists only on the remote is refused before anything is made.
	r.git("tag", "--delete", "v1.3.0-rc.1")
	if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0-rc.1", Push: true}); !errors.Is(err, ErrTagExists) || !strings.Contains(err.Error(), "on the remote origin") {
		t.Errorf("remote tag: err = %v", err)
	}
	// So is a version below a release that exists only on the remote.
	gitcmdtest.GitEnv(t, bare, releaseBot, "tag", "v2.0.0", "main")
	if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", Push: true}); !errors.Is(err, ErrLowerVersion) || !strings.Contains(err.Error(), "v2.0.0") {
		t.Errorf("remote release: err = %v", err)
	}
	if got := r.git("tag", "-l", "v1.3.0*"); got != "" {
		t.Errorf("refused tags left behind: %q", got)
	}
}

func TestTagWithPushNeedsTheCommitOnTheRemoteMain(t *testing.T) {
	t.Parallel()
	r := releasable(t)
	withRemote(t, r)
	r.commit("fix: committed on local main, not pushed")
	r.writeFile("CHANGELOG.md", "## [1.3.0]\n\n- a\n")
	r.git("commit", "--quiet", "-am", "docs: changelog")
	_, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", Push: true})
	if !errors.Is(err, ErrNotOnMain) || !strings.Contains(err.Error(), "is not on origin/main") {
		t.Errorf("unpushed commit: err = %v", err)
	}
	// Without --push, local main is enough.
	if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", DryRun: true}); err != nil {
		t.Errorf("local: %v", err)
	}
}

func TestTagPushRefusedLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	r := releasable(t)
	bare := withRemote(t, r)
	hook := filepath.Join(bare, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'tags are protected' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", Push: true})
	if !errors.Is(err, ErrPushRefused) || !strings.Contains(err.Error(), "tags are protected") {
		t.Fatalf("err = %v, want the hook's refusal", err)
	}
	if res.Created || res.Pushed || r.git("tag", "-l", "v1.3.0") != "" || remoteHasTag(t, bare, "v1.3.0") {
		t.Errorf("after a refused push: %+v, local tags %q", res, r.git("tag", "-l"))
	}
}

func TestTagInAMonorepoUsesThePrefix(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commitIn("services/order/CHANGELOG.md", "", "## [1.0.0]\n\n- first")
	r.tag("v5.0.0") // the repository's own tag is not the service's
	cfg := delivery.Default()
	o := r.opts()
	o.TagPrefix, o.Path = "order-svc/", "services/order"
	res, err := Tag(ctx(t), o, TagOptions{Version: "v1.0.0", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "order-svc/v1.0.0" || res.Plan.Environment != "prod" || res.Plan.Version != "1.0.0" {
		t.Errorf("Tag = %+v", res)
	}
	if _, err := Tag(ctx(t), o, TagOptions{Version: "order-svc/v1.0.0"}); !errors.Is(err, ErrTagExists) {
		t.Errorf("prefixed version typed in full: err = %v", err)
	}
	if cfg.TagPrefix != "" {
		t.Error("Tag changed the caller's config")
	}
}

func TestTagDryRunCreatesNothing(t *testing.T) {
	t.Parallel()
	r := releasable(t)
	res, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created || !res.DryRun || r.git("tag", "-l", "v1.3.0") != "" || res.Latest != "v1.2.0" {
		t.Errorf("dry run: %+v", res)
	}
}

func TestTagWithPushRefusesARemoteMainItCannotSee(t *testing.T) {
	t.Parallel()
	r := releasable(t)
	bare := withRemote(t, r)
	// Someone else pushes to main; this clone has not fetched it.
	other := filepath.Join(t.TempDir(), "other")
	for _, args := range [][]string{
		{"clone", "--quiet", bare, other},
		{"-C", other, "commit", "--quiet", "--allow-empty", "-m", "fix: elsewhere"},
		{"-C", other, "push", "--quiet", "origin", "main"},
	} {
		gitcmdtest.GitEnv(t, "", releaseBot, args...)
	}
	_, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", Push: true})
	if !errors.Is(err, ErrNotOnMain) || !strings.Contains(err.Error(), "which this clone does not have; run `git fetch origin`") {
		t.Errorf("unfetched remote main: err = %v", err)
	}
	r.git("fetch", "--quiet", "origin")
	if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", Push: true, DryRun: true}); err != nil {
		t.Errorf("after fetching: %v", err)
	}
	cfg := delivery.Default()
	cfg.MainBranch = "trunk"
	if _, err := Tag(ctx(t), r.opts(), TagOptions{Version: "v1.3.0", Push: true, Config: cfg}); !errors.Is(err, ErrNotOnMain) || !strings.Contains(err.Error(), `remote "origin" has no branch "trunk"`) {
		t.Errorf("no trunk on the remote: err = %v", err)
	}
}

func TestTagGivesUpOnARemoteThatHangs(t *testing.T) {
	t.Parallel()
	r := releasable(t)
	withRemote(t, r)
	// upload-pack that never answers: the ls-remote must time out, not hang.
	r.git("config", "remote.origin.uploadpack", "sleep 30; git-upload-pack")
	o := r.opts()
	o.NetworkTimeout = 300 * time.Millisecond
	_, err := Tag(ctx(t), o, TagOptions{Version: "v1.3.0", Push: true})
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") || errors.Is(err, fault.ErrInvalid) {
		t.Errorf("hanging remote: err = %v, want a timeout (exit 1)", err)
	}
	if r.git("tag", "-l", "v1.3.0") != "" {
		t.Error("a tag was created")
	}
}
