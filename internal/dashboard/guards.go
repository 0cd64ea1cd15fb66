package dashboard

import (
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/history"
)

// What guards a cell besides holds: whether the approval of the version it
// runs is signed (environments with signedApprovals, docs/security.md), and
// the automated deploy queued behind its soak (docs/soak.md). The matrix
// and the service page show both, as `smpctl status` prints them.

// queuedDeploy is the deploy waiting, in a cell's environment, for the
// version it runs to finish its soak.
type queuedDeploy struct {
	history.QueuedDeploy
	// Next is the environment whose soak the running version does, and
	// SoakUntil when it will have done it: its deploy plus Next's soak.
	// Zero when either is unknown (a file no smpctl commit wrote).
	Next      string
	SoakUntil time.Time
}

// queuedFor returns the deploy queued behind c's soak, nil without one.
func queuedFor(st *history.Status, c history.Cell) *queuedDeploy {
	for _, q := range st.Queue {
		if q.Environment != c.Environment || q.Service != c.Service {
			continue
		}
		out := &queuedDeploy{QueuedDeploy: q}
		if st.Config == nil {
			return out
		}
		// The soak is the next environment's requirement on this one.
		if _, i, ok := st.Config.Env(c.Environment); ok && i+1 < len(st.Config.Environments) {
			next := st.Config.Environments[i+1]
			out.Next = next.Name
			if next.Soak > 0 && c.DeployedAt != nil {
				out.SoakUntil = c.DeployedAt.Add(next.Soak.D())
			}
		}
		return out
	}
	return nil
}

// signatureNeed says what an environment asks of an approval, for a cell
// without an ApprovalSignature: "" (no approval gate), or "not required"
// (a gate that takes unsigned approvals). A cell of an environment with
// signedApprovals carries its ApprovalSignature instead.
func signatureNeed(cfg *delivery.Config, env string) string {
	if cfg == nil {
		return ""
	}
	e, _, ok := cfg.Env(env)
	if !ok || e.Approval == "" || e.Approval == delivery.ApprovalNone {
		return ""
	}
	if e.SignedApprovals {
		// A cell there without a signature runs no tag: no approval of it
		// to check.
		return ""
	}
	return "not required"
}
