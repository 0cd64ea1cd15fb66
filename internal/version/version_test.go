package version

import (
	"runtime/debug"
	"testing"
)

func TestLdflagsWinOverBuildInfo(t *testing.T) {
	Version, Commit, Date = "1.2.3", "abc123", "2026-11-25T00:00:00Z"
	t.Cleanup(func() { Version, Commit, Date = "", "", "" })
	got := get(func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "zzz"}}}, true
	})
	if got.Version != "1.2.3" || got.Commit != "abc123" || got.Date != "2026-11-25T00:00:00Z" {
		t.Fatalf("get() = %+v, want the ldflags values", got)
	}
}

func TestBuildInfoFillsTheGaps(t *testing.T) {
	got := get(func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "deadbeef"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}, true
	})
	if got.Version != "v0.4.0" || got.Commit != "deadbeef" || got.Date != "2026-01-02T03:04:05Z" || !got.Modified {
		t.Fatalf("get() = %+v", got)
	}
	empty := get(func() (*debug.BuildInfo, bool) { return nil, false })
	if empty.Version != "dev" || empty.Commit != "unknown" || empty.Date != "unknown" {
		t.Fatalf("get() without build info = %+v", empty)
	}
}
