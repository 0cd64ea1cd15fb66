package semver

import (
	"errors"
	"sort"
	"testing"
)

func TestParseAcceptsStrictSemVer(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7",
		"1.0.0-x.7.z.92", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85", "1.0.0-rc.1+build.1", "1.2.3---R-S.12.9.1--.12+meta"} {
		v, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if v.String() != s {
			t.Errorf("Parse(%q).String() = %q", s, v.String())
		}
	}
}

func TestParseRefusesWhatSemVerRefuses(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3+", "1.2.3-01",
		"1.2.3-rc..1", "1.2.3-rc.1+", "a.b.c", "1.2.3-ü", "-1.2.3", "1.2.-3", "99999999999999999999.0.0", " 1.2.3"} {
		if _, err := Parse(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error = %v, want ErrInvalid", s, err)
		}
	}
}

func TestCompareFollowsSemVerPrecedence(t *testing.T) {
	t.Parallel()
	// The example chain from semver.org §11, plus rc numbers that sort
	// numerically (rc.10 after rc.2).
	chain := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0-rc.2", "1.0.0-rc.10", "1.0.0", "1.0.1", "1.1.0", "2.0.0"}
	vs := make([]Version, len(chain))
	for i, s := range chain {
		v, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = v
	}
	for i := range vs {
		for j := range vs {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := vs[i].Compare(vs[j]); got != want {
				t.Errorf("%s.Compare(%s) = %d, want %d", vs[i], vs[j], got, want)
			}
		}
	}
	shuffled := append([]Version(nil), vs[len(vs)/2:]...)
	shuffled = append(shuffled, vs[:len(vs)/2]...)
	sort.Slice(shuffled, func(a, b int) bool { return shuffled[a].Compare(shuffled[b]) < 0 })
	for i := range shuffled {
		if shuffled[i].String() != chain[i] {
			t.Fatalf("sorted[%d] = %s, want %s", i, shuffled[i], chain[i])
		}
	}
	if a, _ := Parse("1.0.0+a"); a.Compare(Version{Major: 1}) != 0 {
		t.Error("build metadata must not affect precedence")
	}
}

func TestParseTagClassifiesReleaseAndRC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tag  string
		kind Kind
		rc   uint64
		ok   bool
	}{
		{"v3.3.0", Release, 0, true},
		{"v3.3.0-rc.1", RC, 1, true},
		{"v3.3.0-rc.12", RC, 12, true},
		{"3.3.0", "", 0, false},
		{"v3.3.0-rc.0", "", 0, false},
		{"v3.3.0-rc.01", "", 0, false},
		{"v3.3.0-rc", "", 0, false},
		{"v3.3.0-RC.1", "", 0, false},
		{"v3.3.0-rollback", "", 0, false},
		{"v3.3.0+meta", "", 0, false},
		{"v", "", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseTag(tc.tag)
		if (err == nil) != tc.ok {
			t.Errorf("ParseTag(%q) error = %v, want ok=%v", tc.tag, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseTag(%q) error %v does not wrap ErrInvalid", tc.tag, err)
			}
			continue
		}
		if got.Kind != tc.kind || got.RC != tc.rc || got.String() != tc.tag {
			t.Errorf("ParseTag(%q) = %+v, want kind %s rc %d", tc.tag, got, tc.kind, tc.rc)
		}
	}
	if got := RCVersion(Version{Major: 1, Minor: 2, Patch: 3, Pre: []string{"x"}}, 4).String(); got != "1.2.3-rc.4" {
		t.Errorf("RCVersion = %s", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1.2.3", "1.0.0-rc.1+b", "01.0.0", "1.2.3-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		// Round trip: what we accept prints back exactly and re-parses equal.
		if v.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, v.String())
		}
		w, err := Parse(v.String())
		if err != nil || w.Compare(v) != 0 {
			t.Fatalf("re-parse of %q: %v", s, err)
		}
	})
}
