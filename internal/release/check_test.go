package release

import (
	"errors"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/semver"
)

const sampleChangelog = "# Changelog\n\n" +
	"## [Unreleased]\n\n" +
	"## [3.3.0] - 2026-11-25\n\n### Added\n\n- partner platform (#1)\n\n" +
	"## [v3.2.5](https://github.com/smp/order-svc/compare/v3.2.4...v3.2.5) (2026-10-01)\n\n* fix: x\n\n" +
	"## 3.2.4\n\n### Fixed\n\n" + // empty: a heading but nothing under it
	"## [order-svc/v3.2.3]\n\n- y\n\n" +
	"```markdown\n## [9.9.9] - in a code block\n- not a section\n```\n\n" +
	"- ## [8.8.8] in a list is not a section\n\n" +
	"3.1.0\n-----\n\nsetext heading\n\n" +
	"### [7.7.7] a level-3 heading is not a version section\n\n- z\n"

func TestFindSection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tag, prefix string
		found       bool
		line        int
		empty       bool
	}{
		{"v3.3.0", "", true, 5, false},
		{"v3.3.0-rc.2", "", true, 5, false}, // an rc is covered by its release's section
		{"v3.2.5", "", true, 11, false},
		{"v3.2.4", "", true, 15, true},
		{"v3.2.3", "order-svc/", true, 19, false},
		{"v3.1.0", "", true, 30, false},
		{"v9.9.9", "", false, 0, false},
		{"v8.8.8", "", false, 0, false},
		{"v7.7.7", "", false, 0, false},
		{"v3.3.1", "", false, 0, false},
		{"v3.3.0-rc.1", "", true, 5, false},
		{"v3.2.3", "", false, 0, false}, // the prefixed heading needs the prefix
	}
	for _, tc := range tests {
		tag, err := semver.ParseTag(tc.tag)
		if err != nil {
			t.Fatal(err)
		}
		s, found := FindSection([]byte(sampleChangelog), tag, tc.prefix)
		if found != tc.found || s.Line != tc.line || s.Empty != tc.empty {
			t.Errorf("FindSection(%s, prefix %q) = %+v found %v, want found %v line %d empty %v", tc.tag, tc.prefix, s, found, tc.found, tc.line, tc.empty)
		}
	}
}

func TestCheckReadsTheCommittedChangelog(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commit("chore: initial")
	if _, err := Check(ctx(t), r.opts(), "v3.3.0", ""); !errors.Is(err, ErrNoSection) || !strings.Contains(err.Error(), "does not exist at HEAD") {
		t.Errorf("no CHANGELOG.md: err = %v", err)
	}
	r.writeFile("CHANGELOG.md", sampleChangelog)
	if _, err := Check(ctx(t), r.opts(), "v3.3.0", ""); !errors.Is(err, ErrNoSection) {
		t.Errorf("uncommitted CHANGELOG.md must not count: err = %v", err)
	}
	r.git("add", "CHANGELOG.md")
	r.commit("chore(release): 3.3.0")
	res, err := Check(ctx(t), r.opts(), "3.3.0", "")
	if err != nil || res.Line != 5 || res.Heading != "[3.3.0] - 2026-11-25" {
		t.Errorf("Check = %+v, %v", res, err)
	}
	for version, msg := range map[string]string{
		"v3.3.1":      "has no section for v3.3.1; add ## [3.3.1]",
		"v3.4.0-rc.1": "add ## [3.4.0-rc.1] or ## [3.4.0]",
		"v3.2.4":      "CHANGELOG.md:15: the section \"3.2.4\" for v3.2.4 is empty",
	} {
		if _, err := Check(ctx(t), r.opts(), version, ""); !errors.Is(err, ErrNoSection) || !strings.Contains(err.Error(), msg) {
			t.Errorf("Check(%s): err = %v, want %q", version, err, msg)
		}
	}
	if _, err := Check(ctx(t), r.opts(), "v3.3", ""); !errors.Is(err, ErrInvalidVersion) {
		t.Errorf("Check(v3.3): err = %v, want ErrInvalidVersion", err)
	}
	// CD checks tags out detached; the check still works there.
	r.git("switch", "--quiet", "--detach", "HEAD")
	if _, err := Check(ctx(t), r.opts(), "v3.3.0", ""); err != nil {
		t.Errorf("detached HEAD: %v", err)
	}
}

func TestCheckFindsAServiceChangelogInItsPath(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commitIn("services/order/CHANGELOG.md", "", "## [1.2.0]\n\n- x")
	o := r.opts()
	o.Path, o.TagPrefix = "services/order", "order-svc/"
	if res, err := Check(ctx(t), o, "order-svc/v1.2.0", ""); err != nil || res.File != "services/order/CHANGELOG.md" {
		t.Errorf("Check = %+v, %v", res, err)
	}
	if _, err := Check(ctx(t), r.opts(), "v1.2.0", "services/order/CHANGELOG.md"); err != nil {
		t.Errorf("Check with an explicit file: %v", err)
	}
}

func mustTag(t *testing.T, s string) semver.Tag {
	t.Helper()
	tag, err := semver.ParseTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

var semverTag130 = semver.Tag{Version: semver.Version{Major: 1, Minor: 3}, Kind: semver.Release}
