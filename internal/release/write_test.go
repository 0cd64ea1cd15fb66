package release

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInsertSectionKeepsKeepAChangelogOrder(t *testing.T) {
	t.Parallel()
	cl := Changelog{Version: "1.3.0", Markdown: "## [1.3.0] - 2026-11-25\n\n### Added\n\n- a (#1) — An\n"}
	tests := []struct{ name, src, want string }{
		{"below Unreleased, above the newest release",
			"# Changelog\n\n## [Unreleased]\n\n- wip\n\n## [1.2.0] - 2026-10-01\n\n- old\n",
			"# Changelog\n\n## [Unreleased]\n\n- wip\n\n## [1.3.0] - 2026-11-25\n\n### Added\n\n- a (#1) — An\n\n## [1.2.0] - 2026-10-01\n\n- old\n"},
		{"above the newest release without Unreleased",
			"# Changelog\n\n## 1.2.0\n\n- old\n",
			"# Changelog\n\n## [1.3.0] - 2026-11-25\n\n### Added\n\n- a (#1) — An\n\n## 1.2.0\n\n- old\n"},
		{"at the end when there is no release yet",
			"# Changelog\n\nIntro.\n\n## [Unreleased]\n",
			"# Changelog\n\nIntro.\n\n## [Unreleased]\n\n## [1.3.0] - 2026-11-25\n\n### Added\n\n- a (#1) — An\n"},
		{"a new file gets a title",
			"",
			changelogHeader + "## [1.3.0] - 2026-11-25\n\n### Added\n\n- a (#1) — An\n"},
		{"a heading in a code block is not the newest release",
			"# Changelog\n\n```\n## [0.0.1]\n```\n\n## [1.2.0]\n\n- old\n",
			"# Changelog\n\n```\n## [0.0.1]\n```\n\n## [1.3.0] - 2026-11-25\n\n### Added\n\n- a (#1) — An\n\n## [1.2.0]\n\n- old\n"},
	}
	for _, tc := range tests {
		got, err := InsertSection([]byte(tc.src), cl, "")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		if _, found := FindSection(got, mustTag(t, "v1.3.0"), ""); !found {
			t.Errorf("%s: the inserted section is not found again", tc.name)
		}
	}
	if _, err := InsertSection([]byte("## [1.3.0]\n\n- edited by hand\n"), cl, ""); !errors.Is(err, ErrSectionExists) {
		t.Errorf("existing section: err = %v", err)
	}
}

func TestWriteChangelogThenCheckAfterCommit(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v1.2.0")
	r.commitAs("An Tran <an@smp.vn>", "feat: refunds (#5)")
	cl, err := BuildChangelog(ctx(t), r.opts(), ChangelogOptions{Date: releaseDay})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := WriteChangelog(r.opts(), "", cl)
	if err != nil || rel != "CHANGELOG.md" {
		t.Fatalf("WriteChangelog = %q, %v", rel, err)
	}
	b, err := os.ReadFile(filepath.Join(r.dir, rel))
	if err != nil || !strings.Contains(string(b), "- refunds (#5) — An Tran\n") {
		t.Fatalf("CHANGELOG.md = %q, %v", b, err)
	}
	if _, err := WriteChangelog(r.opts(), "", cl); !errors.Is(err, ErrSectionExists) {
		t.Errorf("second write: err = %v", err)
	}
	if _, err := WriteChangelog(r.opts(), "../outside.md", cl); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("outside the repository: err = %v", err)
	}
	r.git("add", "CHANGELOG.md")
	r.commit("chore(release): 1.3.0")
	if _, err := Check(ctx(t), r.opts(), "v1.3.0", ""); err != nil {
		t.Errorf("Check after writing and committing: %v", err)
	}
}

func TestInsertSectionRefusesWhereMarkdownWouldHideIt(t *testing.T) {
	t.Parallel()
	cl := Changelog{Version: "1.3.0", Markdown: "## [1.3.0] - 2026-11-25\n\n- a\n"}
	if _, err := InsertSection([]byte("# Changelog\n\n```\nunclosed\n"), cl, ""); !errors.Is(err, ErrUnplaceable) {
		t.Errorf("unclosed code block: err = %v", err)
	}
}

// FuzzInsertSection checks that, whatever the existing changelog holds,
// InsertSection either refuses or returns a changelog where the version's
// section is found, and keeps every byte of the original.
func FuzzInsertSection(f *testing.F) {
	for _, s := range []string{"", "# Changelog\n\n## [Unreleased]\n\n## [1.2.0]\n- x\n", "```\n", "<div>\n", "1.2.0\n---\n", "## [1.3.0]\n"} {
		f.Add(s)
	}
	cl := Changelog{Version: "1.3.0", Markdown: "## [1.3.0] - 2026-11-25\n\n### Added\n\n- a (#1) — An\n"}
	tag := semverTag130
	f.Fuzz(func(t *testing.T, src string) {
		out, err := InsertSection([]byte(src), cl, "")
		if err != nil {
			if !errors.Is(err, ErrSectionExists) && !errors.Is(err, ErrUnplaceable) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if s, found := FindSection(out, tag, ""); !found || s.Empty {
			t.Fatalf("section not found (or empty) in %q", out)
		}
		if strings.TrimSpace(src) == "" {
			return
		}
		// Taking the section out again gives back the original, byte for byte
		// (up to trailing newlines when it was appended).
		inserted := strings.Replace(string(out), cl.Markdown+"\n", "", 1) == src
		appended := strings.TrimSuffix(string(out), "\n\n"+cl.Markdown) == strings.TrimRight(src, "\n")
		if !inserted && !appended {
			t.Fatalf("original content changed: %q → %q", src, out)
		}
	})
}

// TestWriteChangelogNeverFollowsALinkOutOfTheWorkTree: a service repository
// whose CHANGELOG.md, or a directory on the way to --changelog, is a
// symbolic link out of it: the write is refused and the target untouched.
func TestWriteChangelogNeverFollowsALinkOutOfTheWorkTree(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v1.2.0")
	r.commit("feat: refunds (#5)")
	cl, err := BuildChangelog(ctx(t), r.opts(), ChangelogOptions{Date: releaseDay})
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	victim := filepath.Join(outside, "passwd")
	if err := os.WriteFile(victim, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(r.dir, "CHANGELOG.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(r.dir, "docs")); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"", "docs/CHANGES.md"} {
		if _, err := WriteChangelog(r.opts(), file, cl); err == nil {
			t.Errorf("changelog %q through a link out of the work tree was written", file)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "root:x:0:0\n" {
		t.Errorf("the file outside was changed: %q", b)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("files were created outside the work tree: %v", entries)
	}
}
