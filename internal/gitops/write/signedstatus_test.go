package write_test

import (
	"context"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/gitops/signing"
)

// Issue #15 item 1: status says whether the approval in force is signed,
// and by whom, where signatures are required.
func TestStatusShowsWhetherTheApprovalInForceIsSigned(t *testing.T) {
	t.Parallel()
	f := promotedSigned(t)
	gitcmdtest.Git(t, f.bare, "symbolic-ref", "HEAD", "refs/heads/main")
	cell := func() history.Cell {
		t.Helper()
		r, err := history.Open(context.Background(), f.bare, history.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := r.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c, ok := st.Cell("order-svc", "staging")
		if !ok || c.ApprovalSignature == nil {
			t.Fatalf("staging's cell = %+v, want an approval signature", c)
		}
		return c
	}
	want := signing.Fingerprint(mustParse(t, f.alice.Public))
	if s := cell().ApprovalSignature; !s.Signed || s.By != "alice" || s.Key != want {
		t.Errorf("signed approval = %+v, want signed by alice with %s", s, want)
	}
	handApproval(t, f.bare) // the same approval, rewritten unsigned
	if s := cell().ApprovalSignature; s.Signed || s.Problem != "unsigned" || s.Commit == "" {
		t.Errorf("after an unsigned edit = %+v, want unsigned", s)
	}
	// dev needs no approval: nothing to say there.
	r, err := history.Open(context.Background(), f.bare, history.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := st.Cell("order-svc", "dev"); c.ApprovalSignature != nil {
		t.Errorf("dev's cell has an approval signature: %+v", c.ApprovalSignature)
	}
}
