package gc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/image/gc"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func digest(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// The table the issue asks for: tag sets × environment references × ages.
func TestPlanDeletesOnlyOldUnreferencedDevOnlyDigests(t *testing.T) {
	t.Parallel()
	tagSets := []struct {
		name    string
		tags    []string
		devOnly bool
	}{
		{"only a sha tag", []string{"sha-abc1234"}, true},
		{"two sha tags", []string{"sha-abc1234", "sha-abc1234def"}, true},
		{"a sha tag and an rc tag", []string{"sha-abc1234", "3.3.0-rc.1"}, false},
		{"a sha tag and a release tag", []string{"sha-abc1234", "3.3.0"}, false},
		{"a release tag only", []string{"3.2.5"}, false},
		{"a tag nobody knows", []string{"sha-abc1234", "hotfix-2026"}, false},
		{"a sha-like tag that is not hex", []string{"sha-release"}, false},
		{"no tag at all", nil, false},
	}
	refSets := []struct {
		name string
		refs func(d string) gc.References
		free bool
	}{
		{"unreferenced", func(string) gc.References { return gc.References{} }, true},
		{"deployed in dev by digest", func(d string) gc.References {
			return gc.References{Digests: map[string][]string{d: {"environments/dev/order-svc.yaml"}}}
		}, false},
		{"held in prod", func(d string) gc.References {
			return gc.References{Digests: map[string][]string{d: {"state/holds/prod/order-svc.yaml"}}}
		}, false},
		{"pinned by its sha tag", func(string) gc.References {
			return gc.References{Tags: map[string][]string{"sha-abc1234": {"environments/staging/order-svc.yaml"}}}
		}, false},
	}
	ages := []struct {
		name    string
		created time.Time
		old     bool
	}{
		{"built 40 days ago", now.Add(-40 * 24 * time.Hour), true},
		{"built 10 days ago", now.Add(-10 * 24 * time.Hour), false},
		{"built exactly 30 days ago", now.Add(-720 * time.Hour), false},
		{"of unknown age", time.Time{}, false},
	}
	n := 0
	for _, ts := range tagSets {
		for _, rs := range refSets {
			for _, a := range ages {
				n++
				d := digest(n)
				v := gc.Version{Digest: d, Tags: ts.tags, Created: a.created}
				got, err := gc.Plan([]gc.Version{v}, rs.refs(d), gc.Policy{MaxAge: 720 * time.Hour, Now: now})
				if err != nil {
					t.Fatal(err)
				}
				want := gc.Keep
				if ts.devOnly && rs.free && a.old {
					want = gc.Delete
				}
				if len(got) != 1 || got[0].Action != want || got[0].Reason == "" {
					t.Errorf("a digest with %s, %s, %s: got %+v, want %s", ts.name, rs.name, a.name, got, want)
				}
			}
		}
	}
}

func TestAttachmentsFollowTheirSubject(t *testing.T) {
	t.Parallel()
	old := now.Add(-60 * 24 * time.Hour)
	doomed, kept := digest(1), digest(2)
	sigTag := func(d string) string { return "sha256-" + strings.TrimPrefix(d, "sha256:") + ".sig" }
	versions := []gc.Version{
		{Digest: doomed, Tags: []string{"sha-1111111"}, Created: old},
		{Digest: kept, Tags: []string{"sha-2222222", "1.0.0"}, Created: old},
		{Digest: digest(3), Tags: []string{sigTag(doomed)}},
		{Digest: digest(4), Tags: []string{sigTag(kept)}},
		{Digest: digest(5), Tags: []string{"sha256-" + strings.TrimPrefix(doomed, "sha256:")}}, // referrers fallback tag
	}
	ds, err := gc.Plan(versions, gc.References{}, gc.Policy{MaxAge: 720 * time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 {
		t.Fatalf("attachments were judged on their own: %+v", ds)
	}
	for _, d := range ds {
		switch d.Version.Digest {
		case doomed:
			if d.Action != gc.Delete || len(d.Attachments) != 2 {
				t.Errorf("doomed: %+v, want delete with its signature and SBOM index", d)
			}
		case kept:
			if d.Action != gc.Keep || len(d.Attachments) != 0 {
				t.Errorf("kept: %+v", d)
			}
		}
	}
	if _, err := gc.Plan(versions, gc.References{}, gc.Policy{Now: now}); err == nil {
		t.Error("a zero max age was accepted")
	}
}
