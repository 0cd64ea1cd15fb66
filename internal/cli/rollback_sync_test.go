package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/kube"
)

const syncDigest = "sha256:3333333333333333333333333333333333333333333333333333333333333333"

// scriptedRollout is a stand-in engine for bringActive's decisions: it
// plays states in order and records promotions. Its twin on a real engine
// is the local demo's "on-call: rollback --sync" step (internal/demo), which
// runs smpctl rollback --sync on the local runtime.
type scriptedRollout struct {
	mu       sync.Mutex
	states   []rolloutState
	promotes int
	// promoteErr is what promote returns; afterPromote is the state from then on.
	promoteErr   error
	afterPromote *rolloutState
}

func (r *scriptedRollout) sync(context.Context, string) error { return nil }

func (r *scriptedRollout) state(context.Context) (rolloutState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.promotes > 0 && r.afterPromote != nil {
		return *r.afterPromote, nil
	}
	st := r.states[0]
	if len(r.states) > 1 {
		r.states = r.states[1:]
	}
	return st, nil
}

func (r *scriptedRollout) promote(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.promotes++
	return r.promoteErr
}

func TestBringActiveSwitchesBackWithoutAPromoteWhileThePreviousVersionRuns(t *testing.T) {
	v := &scriptedRollout{states: []rolloutState{{active: "sha256:old"}, {active: syncDigest}}}
	how, err := bringActive(context.Background(), v, &bytes.Buffer{}, "prod", "order-svc", "3.2.0", syncDigest, "0.1.0", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if v.promotes != 0 || !strings.Contains(how, "switched back at once") || !strings.HasPrefix(how, "3.2.0 (sha256:333333333333) active in prod") {
		t.Fatalf("promotes %d, said %q; want no promote and a switch back at once", v.promotes, how)
	}
}

func TestBringActivePromotesTheRollbackOnceItsPreviewIsReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"promoted by smpctl", nil},
		// An engine that promotes by itself got there first.
		{"already promoted by the engine", kube.ErrNothingToPromote},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &scriptedRollout{
				states: []rolloutState{
					{active: "sha256:new", preview: syncDigest, paused: false},
					{active: "sha256:new", preview: syncDigest, paused: true, previewReady: false},
					{active: "sha256:new", preview: syncDigest, paused: true, previewReady: true},
				},
				promoteErr:   tc.err,
				afterPromote: &rolloutState{active: syncDigest},
			}
			var progress bytes.Buffer
			how, err := bringActive(context.Background(), v, &progress, "prod", "order-svc", "3.2.0", syncDigest, "0.1.0", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if v.promotes != 1 || !strings.Contains(how, "was promoted") {
				t.Fatalf("promotes %d, said %q; want one promote, after the preview was ready", v.promotes, how)
			}
			if !strings.Contains(progress.String(), "waits on the preview of order-svc in prod") {
				t.Fatalf("progress %q does not say why it promotes", progress.String())
			}
		})
	}
}

func TestBringActiveGivesUpWithWhatIsLeftToDo(t *testing.T) {
	v := &scriptedRollout{states: []rolloutState{{active: "sha256:new", preview: syncDigest, paused: true}}}
	_, err := bringActive(context.Background(), v, &bytes.Buffer{}, "prod", "order-svc", "3.2.0", syncDigest, "0.1.0", 1500*time.Millisecond)
	if err == nil || !fault.IsRefused(err) {
		t.Fatalf("err %v; want a refusal (exit 1)", err)
	}
	for _, want := range []string{"3.2.0 (sha256:333333333333) in prod is not active yet", "paused true", "the rollback commit stands", "smpctl rollout promote prod order-svc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if v.promotes != 0 {
		t.Fatalf("promoted a preview that was never ready")
	}
}
