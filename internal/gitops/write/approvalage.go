package write

import (
	"context"
	"fmt"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/untrusted"
)

// approvedAt is when the approval of svc version for env was given: the
// time of the newest commit that wrote its file, the commit the signature
// check reads too. found is false when no commit wrote it.
func approvedAt(ctx context.Context, t *gitops.Tree, env, svc, version string) (gitops.Revision, bool, error) {
	var rev gitops.Revision
	found := false
	err := t.Log(ctx, approvalPath(env, svc, version), func(r gitops.Revision) (bool, error) {
		rev, found = r, true
		return true, nil
	})
	if err != nil {
		return rev, false, fmt.Errorf("read when %s %s was approved for %s: %w", svc, version, env, err)
	}
	return rev, found, nil
}

// approvalExpired says whether the approval of svc version for e, as
// committed, is older than e's approvalMaxAge at now, and returns the
// commit that gave it. Where approvals do not expire (no approvalMaxAge)
// it reads nothing.
func approvalExpired(ctx context.Context, t *gitops.Tree, e delivery.Environment, svc, version string, now time.Time) (bool, gitops.Revision, error) {
	if _, expires := e.ApprovalExpiry(now); !expires {
		return false, gitops.Revision{}, nil
	}
	rev, found, err := approvedAt(ctx, t, e.Name, svc, version)
	if err != nil || !found {
		return false, rev, err
	}
	expiry, _ := e.ApprovalExpiry(rev.Time)
	return !now.Before(expiry), rev, nil
}

// checkApprovalAge refuses a deploy or promote on an approval older than
// the environment's approvalMaxAge: an approval given weeks ago for a
// release nobody shipped says nothing about shipping it now (the approver
// judged it against what ran then). The age is the commit's, not the
// file's `at`, so it is what git recorded and, where approvals are
// signed, what the approver signed. Where approvalMaxAge is not set,
// approvals do not expire.
func checkApprovalAge(ctx context.Context, t *gitops.Tree, e delivery.Environment, svc, version string, now time.Time) error {
	expired, rev, err := approvalExpired(ctx, t, e, svc, version, now)
	if err != nil || !expired {
		return err
	}
	expiry, _ := e.ApprovalExpiry(rev.Time)
	by := "its approver"
	if n := rev.Trailers["Approved-By"]; n != "" {
		by = untrusted.Name(n)
	}
	return fault.Refusedf("the approval of %s %s for %s has expired: it was approved at %s by %s (commit %.12s), and approvals in %s count for %s (approvalMaxAge in %s), so it expired at %s; approve it again: `smpctl approve --env %s --service %s --version %s --by NAME`",
		svc, version, e.Name, rev.Time.UTC().Format(time.RFC3339), by, rev.Hash, e.Name, e.ApprovalMaxAge, delivery.FileName,
		expiry.UTC().Format(time.RFC3339), e.Name, svc, version)
}
