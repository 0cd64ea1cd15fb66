package release

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/changelog")

var releaseDay = time.Date(2026, 11, 25, 23, 30, 0, 0, time.FixedZone("ICT", 7*3600)) // 2026-11-25 in UTC

// scriptedHistory builds a release's worth of commits of every kind.
func scriptedHistory(t *testing.T) *gitRepo {
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v3.2.5")
	r.commitAs("An Tran <an@smp.vn>", "feat(orders): idempotent create with Idempotency-Key (#101)")
	r.commitAs("Bao Vo <bao@smp.vn>", "fix(auth): reject expired JWTs (#102)\n\nThe clock skew allowance was applied twice.")
	r.commitAs("Chi Le <chi@smp.vn>", "perf(db): batch the outbox inserts (#103)")
	r.commitAs("Dung Pham <dung@smp.vn>", "feat(api)!: remove the /v1 routes (#104)\n\nBREAKING CHANGE: /v1 answers 410 Gone.\nCall /v2 instead; see docs/v2.md.\nCo-authored-by: An Tran <an@smp.vn>\nCo-authored-by: Em Ho <em@smp.vn>")
	r.commitAs("Em Ho <em@smp.vn>", "refactor: split the pricing package (#105)")
	r.commitAs("Bao Vo <bao@smp.vn>", "docs: explain the release flow (#106)")
	r.commitAs("Bao Vo <bao@smp.vn>", "chore(deps): bump cobra (#107)")
	r.commitAs("Giang Do <giang@smp.vn>", "Fixed the thing on friday")
	r.commitAs("An Tran <an@smp.vn>", "fix: handle an empty cart (#108) (#110)")
	r.commitAs("Chi Le <chi@smp.vn>", "revert: feat(orders): partner webhooks (#109)")
	r.commitAs("Chi Le <chi@smp.vn>", "security: pin the base image digest")
	r.commitAs("Bao Vo <bao@smp.vn>", "Revert \"perf(db): batch the outbox inserts (#103)\" (#111)\n\nThis reverts commit 0123456.")
	return r
}

func TestChangelogGolden(t *testing.T) {
	t.Parallel()
	r := scriptedHistory(t)
	tests := []struct {
		name string
		co   ChangelogOptions
	}{
		{"default", ChangelogOptions{Date: releaseDay}},
		{"links-and-all", ChangelogOptions{Date: releaseDay, RepoURL: "https://github.com/smp/order-svc/", All: true}},
		{"explicit-rc-version", ChangelogOptions{Date: releaseDay, Version: "v4.0.0-rc.1"}},
	}
	for _, tc := range tests {
		cl, err := BuildChangelog(ctx(t), r.opts(), tc.co)
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "changelog", tc.name+".md")
		if *update {
			if err := os.WriteFile(golden, []byte(cl.Markdown), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -run TestChangelogGolden -update to create it)", err)
		}
		if cl.Markdown != string(want) {
			t.Errorf("%s: changelog differs from %s (rerun with -update if the change is intended):\n%s", tc.name, golden, cl.Markdown)
		}
		if cl.Previous != "v3.2.5" {
			t.Errorf("%s: previous = %q", tc.name, cl.Previous)
		}
	}
}

func TestChangelogSaysWhenThereIsNothingToRelease(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commit("chore: initial")
	r.tag("v1.0.0")
	r.commit("docs: only docs")
	cl, err := BuildChangelog(ctx(t), r.opts(), ChangelogOptions{Date: releaseDay})
	if err != nil {
		t.Fatal(err)
	}
	if cl.Release || cl.Markdown != "" || cl.Reason == "" {
		t.Errorf("changelog = %+v, want no release with a reason", cl)
	}
	cl, err = BuildChangelog(ctx(t), r.opts(), ChangelogOptions{Date: releaseDay, Version: "1.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "## [1.0.1] - 2026-11-25\n\nNo notable changes.\n"; cl.Markdown != want || cl.Hidden != 1 {
		t.Errorf("forced version: %q (hidden %d), want %q", cl.Markdown, cl.Hidden, want)
	}
	if _, err := BuildChangelog(ctx(t), r.opts(), ChangelogOptions{Version: "1.0"}); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("bad --version: err = %v, want bad input", err)
	}
}
