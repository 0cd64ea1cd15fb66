package plan

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/smp/delivery/internal/gitops/delivery"
)

// table is docs/design.md §4 as data. The workflow mapping test (issue 8) reuses
// it through Table.
func TestPlanFollowsTheSeedTable(t *testing.T) {
	t.Parallel()
	for _, tc := range Table {
		t.Run(tc.Ref, func(t *testing.T) {
			t.Parallel()
			p, err := For(delivery.Default(), tc.Ref)
			switch {
			case tc.InvalidRef:
				if !errors.Is(err, ErrInvalidRef) {
					t.Fatalf("For(%q) error = %v, want ErrInvalidRef", tc.Ref, err)
				}
				return
			case tc.InvalidTag:
				if !errors.Is(err, ErrInvalidTag) {
					t.Fatalf("For(%q) error = %v, want ErrInvalidTag", tc.Ref, err)
				}
			case err != nil:
				t.Fatalf("For(%q) unexpected error: %v", tc.Ref, err)
			}
			if p.Kind != tc.Kind || p.CI != tc.CI || p.Environment != tc.Env || p.Version != tc.Version ||
				p.Approval != tc.Approval || p.Build != tc.Build {
				t.Errorf("For(%q) = kind %s ci %v env %q version %q approval %s build %v; want kind %s ci %v env %q version %q approval %s build %v",
					tc.Ref, p.Kind, p.CI, p.Environment, p.Version, p.Approval, p.Build,
					tc.Kind, tc.CI, tc.Env, tc.Version, tc.Approval, tc.Build)
			}
			if p.Environment == "" && p.Reason == "" {
				t.Errorf("For(%q) deploys nothing but gives no reason", tc.Ref)
			}
			if p.Environment != "" && p.Reason != "" {
				t.Errorf("For(%q) deploys to %s but has a reason %q", tc.Ref, p.Environment, p.Reason)
			}
		})
	}
	if len(Table) < 40 {
		t.Fatalf("the table has %d refs; the issue asks for at least 40", len(Table))
	}
}

func TestOversizedRefIsRefused(t *testing.T) {
	t.Parallel()
	_, err := For(nil, "refs/heads/"+strings.Repeat("a", MaxRefLen))
	if !errors.Is(err, ErrInvalidRef) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("error = %v, want a size-limit ErrInvalidRef", err)
	}
}

func TestMissingTriggerEnvironmentDeploysNothing(t *testing.T) {
	t.Parallel()
	cfg := delivery.Default()
	cfg.Environments = cfg.Environments[:1] // dev only
	p, err := For(cfg, "v1.0.0")
	if err != nil || p.Environment != "" || !strings.Contains(p.Reason, "trigger release") {
		t.Fatalf("For(v1.0.0) = %+v, %v; want nothing deployed with a reason naming the trigger", p, err)
	}
}

// FuzzPlan checks For never panics, and that every accepted ref yields a
// consistent plan: a target environment has no reason, no target has one.
func FuzzPlan(f *testing.F) {
	for _, tc := range Table {
		f.Add(tc.Ref)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		p, err := For(delivery.Default(), ref)
		if err != nil {
			if !errors.Is(err, ErrInvalidRef) && !errors.Is(err, ErrInvalidTag) {
				t.Fatalf("For(%q): unclassified error %v", ref, err)
			}
			if errors.Is(err, ErrInvalidTag) && p.Environment != "" {
				t.Fatalf("For(%q): invalid tag deploys to %s", ref, p.Environment)
			}
			return
		}
		if !utf8.ValidString(ref) || strings.ContainsAny(ref, " \t\n\x00") || strings.Contains(ref, "..") {
			t.Fatalf("For(%q) accepted a ref with forbidden content", ref)
		}
		if (p.Environment == "") == (p.Reason == "") {
			t.Fatalf("For(%q) = env %q reason %q: exactly one must be set", ref, p.Environment, p.Reason)
		}
		if p.Environment == "prod" && !strings.HasSuffix(ref, p.Version) {
			t.Fatalf("For(%q) deploys version %q to prod", ref, p.Version)
		}
	})
}
