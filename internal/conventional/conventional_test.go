package conventional

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseReadsConventionalHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg string
		want      Commit
	}{
		{"a plain feature", "feat: add refunds",
			Commit{Type: "feat", Subject: "add refunds"}},
		{"a scoped fix", "fix(orders): reject empty carts\n",
			Commit{Type: "fix", Scope: "orders", Subject: "reject empty carts"}},
		{"a breaking change marked with a bang", "feat(api)!: drop /v1",
			Commit{Type: "feat", Scope: "api", Breaking: true, Subject: "drop /v1"}},
		{"a bang without a scope", "refactor!: rename the config keys",
			Commit{Type: "refactor", Breaking: true, Subject: "rename the config keys"}},
		{"the type in upper case is lowered", "FEAT(Api): Shout",
			Commit{Type: "feat", Scope: "Api", Subject: "Shout"}},
		{"a squash merge's PR number", "perf(db): batch inserts (#123)",
			Commit{Type: "perf", Scope: "db", Subject: "batch inserts", PRs: []int{123}}},
		{"two PR numbers from a cherry-pick", "fix: y (#12) (#15)",
			Commit{Type: "fix", Subject: "y", PRs: []int{12, 15}}},
		{"a PR reference inside the subject stays", "fix: undo (#12) partially",
			Commit{Type: "fix", Subject: "undo (#12) partially"}},
		{"a PR number with a leading zero is not one", "fix: x (#012)",
			Commit{Type: "fix", Subject: "x (#012)"}},
		{"a message with CRLF line ends", "fix: windows\r\n\r\nbody\r\n",
			Commit{Type: "fix", Subject: "windows", Body: "body"}},
		{"blank lines before the header", "\n\nchore: tidy",
			Commit{Type: "chore", Subject: "tidy"}},
		{"spaces around the scope", "docs( readme ): typo",
			Commit{Type: "docs", Scope: "readme", Subject: "typo"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Parse(tc.msg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.msg, got, tc.want)
			}
		})
	}
}

func TestParseCountsMalformedHeadersAsOther(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		"",
		"Fix the thing",
		"feat:no space after the colon",
		"feat : space before the colon",
		"feat(): empty scope",
		"feat(api: unclosed scope",
		"feat((api)): nested scope",
		"feat(api)x: junk after the scope",
		"feat: ",
		"feat:",
		"feat: (#12)",
		"2fa: digits first",
		"feat2: digits in the type",
		"fixup! feat: squash me",
		"Revert \"\"",
		"Revert \"unterminated",
		"ünïcode: type",
		": no type",
		"!: bang only",
		"\xff\xfe: invalid utf-8",
	} {
		c := Parse(msg)
		if c.Type != Other {
			t.Errorf("Parse(%q).Type = %q, want %q", msg, c.Type, Other)
		}
		first, _, _ := strings.Cut(msg, "\n")
		if !utf8.ValidString(c.Subject) {
			t.Errorf("Parse(%q).Subject %q is not valid UTF-8", msg, c.Subject)
		}
		if utf8.ValidString(first) && c.Subject != strings.TrimSpace(first) {
			t.Errorf("Parse(%q).Subject = %q, want the first line", msg, c.Subject)
		}
		if c.Breaking {
			t.Errorf("Parse(%q) is breaking without a footer", msg)
		}
	}
}

func TestParseReadsGitReverts(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]Commit{
		"Revert \"feat(orders): partner webhooks (#12)\" (#15)\n\nThis reverts commit 0123abc.": {Type: "revert", Subject: "feat(orders): partner webhooks", PRs: []int{15}},
		"Revert \"fix: x\"": {Type: "revert", Subject: "fix: x"},
	} {
		got := Parse(msg)
		got.Body = ""
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, want %+v", msg, got, want)
		}
	}
}

func TestParseReadsGitHubMergeCommits(t *testing.T) {
	t.Parallel()
	c := Parse("Merge pull request #42 from smp/feat/x\n\nfeat: x")
	if c.Type != Other || !reflect.DeepEqual(c.PRs, []int{42}) {
		t.Errorf("merge commit = %+v, want type other with PR 42", c)
	}
}

func TestParseReadsBodyAndFooters(t *testing.T) {
	t.Parallel()
	msg := `feat(api): version the routes (#7)

The old routes answer 410 Gone.
Clients must move.

Second paragraph of the body.

BREAKING CHANGE: /v1 is removed;
call /v2 instead.

Migration guide: docs/v2.md
Refs #12
Co-authored-by: Chi Le <chi@smp.vn>
Signed-off-by: An Tran <an@smp.vn>
`
	c := Parse(msg)
	if c.Type != "feat" || c.Scope != "api" || !c.Breaking || c.Subject != "version the routes" || !reflect.DeepEqual(c.PRs, []int{7}) {
		t.Fatalf("header = %+v", c)
	}
	if want := "The old routes answer 410 Gone.\nClients must move.\n\nSecond paragraph of the body."; c.Body != want {
		t.Errorf("body = %q, want %q", c.Body, want)
	}
	want := []Footer{
		{"BREAKING CHANGE", "/v1 is removed;\ncall /v2 instead.\n\nMigration guide: docs/v2.md"},
		{"Refs", "12"},
		{"Co-authored-by", "Chi Le <chi@smp.vn>"},
		{"Signed-off-by", "An Tran <an@smp.vn>"},
	}
	// "Migration guide: ..." is not a footer token (it has a space), so it
	// continues the BREAKING CHANGE note.
	if !reflect.DeepEqual(c.Footers, want) {
		t.Errorf("footers =\n%q\nwant\n%q", c.Footers, want)
	}
	if got := c.BreakingNotes(); !reflect.DeepEqual(got, []string{want[0].Value}) {
		t.Errorf("BreakingNotes = %q", got)
	}
	if got := c.CoAuthors(); !reflect.DeepEqual(got, []string{"Chi Le"}) {
		t.Errorf("CoAuthors = %q", got)
	}
}

func TestParseBreakingFooters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg string
		breaking  bool
	}{
		{"BREAKING CHANGE footer", "fix: x\n\nBREAKING CHANGE: y", true},
		{"BREAKING-CHANGE synonym", "fix: x\n\nBREAKING-CHANGE: y", true},
		{"an empty BREAKING CHANGE footer whose note follows", "fix: x\n\nBREAKING CHANGE:\nthe note", true},
		{"after other footers", "fix: x\n\nRefs #1\nBREAKING CHANGE: y", true},
		{"on a malformed header too", "Fix x\n\nBREAKING CHANGE: y", true},
		{"lower case is not the token", "fix: x\n\nbreaking change: y", false},
		{"inside a body paragraph is not a footer", "fix: x\n\nthis is a BREAKING CHANGE: no", false},
		{"mid-paragraph is not a footer start", "fix: x\n\nsome body\nBREAKING CHANGE: no", false},
	}
	for _, tc := range tests {
		if got := Parse(tc.msg).Breaking; got != tc.breaking {
			t.Errorf("%s: Parse(%q).Breaking = %v, want %v", tc.name, tc.msg, got, tc.breaking)
		}
	}
	if notes := Parse("fix: x\n\nBREAKING CHANGE:\nthe note").BreakingNotes(); !reflect.DeepEqual(notes, []string{"the note"}) {
		t.Errorf("notes = %q", notes)
	}
}

func TestParseBoundsHugeMessages(t *testing.T) {
	t.Parallel()
	msg := "feat: big\n\n" + strings.Repeat("x", 2*MaxScanLen) + "\n\nBREAKING CHANGE: beyond the bound"
	c := Parse(msg)
	if c.Type != "feat" || c.Breaking || len(c.Body) > MaxScanLen {
		t.Errorf("huge message: type %q breaking %v body %d bytes", c.Type, c.Breaking, len(c.Body))
	}
}

func TestHeaderIsCanonical(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]string{
		"FEAT(api)!: x (#3)":            "feat(api)!: x (#3)",
		"fix: y\n\nBREAKING CHANGE: z":  "fix!: y",
		"Not conventional":              "Not conventional",
		"perf(db):   spaced   (#1)(#2)": "perf(db): spaced (#1) (#2)",
	} {
		if got := Parse(msg).Header(); got != want {
			t.Errorf("Parse(%q).Header() = %q, want %q", msg, got, want)
		}
	}
}

// FuzzParse checks Parse never panics and that its result is consistent:
// a conventional type is lower-case letters, a subject is one line of
// valid UTF-8, and the canonical header parses back to the same commit.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"feat: a", "fix(x)!: b (#1)", "Merge pull request #9 from a/b", "chore: c\n\nBREAKING CHANGE: d",
		"feat(: x", "x\n\nRefs #1\ncontinued", "Revert \"feat: x (#1)\" (#2)", "BREAKING CHANGE:", "\r\n\r\nfeat: crlf\r\n", "feat: (#0)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		c := Parse(msg)
		if !utf8.ValidString(c.Subject) || !utf8.ValidString(c.Body) {
			t.Fatalf("invalid UTF-8 out of %q", msg)
		}
		if strings.Contains(c.Subject, "\n") {
			t.Fatalf("multi-line subject %q from %q", c.Subject, msg)
		}
		for _, n := range c.PRs {
			if n <= 0 {
				t.Fatalf("PR number %d from %q", n, msg)
			}
		}
		if c.Type == Other {
			return
		}
		for i := 0; i < len(c.Type); i++ {
			if c.Type[i] < 'a' || c.Type[i] > 'z' {
				t.Fatalf("type %q from %q", c.Type, msg)
			}
		}
		if c.Subject == "" {
			t.Fatalf("empty subject from %q", msg)
		}
		back := Parse(c.Header())
		if back.Type != c.Type || back.Scope != c.Scope || back.Subject != c.Subject ||
			back.Breaking != c.Breaking || !reflect.DeepEqual(back.PRs, c.PRs) {
			t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", msg, c.Header(), back, c)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	msg := "feat(orders)!: idempotent create with Idempotency-Key (#1234)\n\n" +
		strings.Repeat("A body line that explains why the change was made.\n", 8) +
		"\nBREAKING CHANGE: clients must send the header\nRefs #1200\nCo-authored-by: Chi Le <chi@smp.vn>\n"
	b.ReportAllocs()
	for b.Loop() {
		_ = Parse(msg)
	}
}
