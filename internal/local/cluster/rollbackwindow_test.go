package cluster

import "testing"

// Argo Rollouts fast-tracks a blue/green rollback when the target's ReplicaSet is older than
// the stable one and fewer than rollbackWindow.revisions ReplicaSets were created between
// them (rollout/sync.go, isRollbackWithinWindow); the local runtime keeps the same order.
func TestARollbackIsFastTrackedOnlyWithinTheWindow(t *testing.T) {
	s := &service{}
	for _, d := range []string{"v1", "v2", "v3", "v4", "v5"} {
		s.mu.Lock()
		s.recordCreated(d)
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.recordCreated("v2") // seen again: keeps its place, as a re-used ReplicaSet keeps its creation time
	s.mu.Unlock()
	for _, c := range []struct {
		target, active string
		window         int
		want           bool
	}{
		{"v4", "v5", 3, true},  // the one before
		{"v2", "v5", 3, true},  // v3 and v4 in between: 2 < 3
		{"v1", "v5", 3, false}, // v2, v3, v4 in between: outside the window
		{"v1", "v5", 4, true},
		{"v4", "v5", 0, false}, // no window: every rollback after the scale-down pauses
		{"v5", "v4", 3, false}, // a newer revision is a roll forward, not a rollback
		{"v9", "v5", 3, false}, // never ran here: a new ReplicaSet
	} {
		if got := s.rollbackWithinWindow(c.target, c.active, c.window); got != c.want {
			t.Errorf("rollback %s → %s with window %d: fast-tracked %v, want %v", c.active, c.target, c.window, got, c.want)
		}
	}
}

// Beyond revisionHistoryLimit the oldest ReplicaSets are deleted, so a rollback to one of
// them is a new ReplicaSet: it pauses like a roll forward.
func TestTheOldestRevisionsAreForgottenBeyondTheHistoryLimit(t *testing.T) {
	s := &service{}
	s.mu.Lock()
	for _, d := range []string{"v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"} {
		s.recordCreated(d)
	}
	got := append([]string(nil), s.created...)
	s.mu.Unlock()
	if len(got) != revisionHistoryLimit+1 || got[0] != "v3" || got[len(got)-1] != "v8" {
		t.Fatalf("revisions kept: %v, want v3…v8 (%d old ones and the current)", got, revisionHistoryLimit)
	}
	if s.rollbackWithinWindow("v1", "v8", 5) {
		t.Error("a rollback to a forgotten revision was fast-tracked")
	}
}
