package history

import (
	"context"
	"fmt"
	"strings"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/signing"
	"github.com/smp/delivery/internal/gitops/statefile"
)

// ApprovalSignature says whether the approval in force for a cell of an
// environment with signedApprovals is signed, as the gate checks it: the
// newest commit that wrote the approval file, verified against the keys
// delivery.yaml lists for its approver.
type ApprovalSignature struct {
	Signed bool   `json:"signed"`
	By     string `json:"by,omitempty"`
	// Key is the fingerprint (SHA256:...) of the key that signed it.
	Key    string `json:"key,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Problem says why it is not signed by a listed key.
	Problem string `json:"problem,omitempty"`
}

// signApprovals fills Cell.ApprovalSignature for the cells of
// environments with signedApprovals: one git log and two reads per cell,
// only there.
func (r *Repo) signApprovals(ctx context.Context, st *Status) error {
	if st.Config == nil {
		return nil
	}
	for i, row := range st.Services {
		for j, c := range row.Environments {
			e, _, ok := st.Config.Env(c.Environment)
			if !ok || !e.SignedApprovals || e.Approval == delivery.ApprovalNone || c.Tag == "" {
				continue
			}
			sig, err := r.approvalSignature(ctx, st, c)
			if err != nil {
				return err
			}
			st.Services[i].Environments[j].ApprovalSignature = sig
		}
	}
	return nil
}

func (r *Repo) approvalSignature(ctx context.Context, st *Status, c Cell) (*ApprovalSignature, error) {
	p := fmt.Sprintf("state/approvals/%s/%s/%s.yaml", c.Environment, c.Service, c.Tag)
	h, err := r.git.Output(ctx, "log", "-1", "--format=%H", st.Commit, "--", p)
	if err != nil {
		return nil, fmt.Errorf("read the approval of %s %s in %s: %w", c.Service, c.Tag, c.Environment, err)
	}
	if h == "" {
		return &ApprovalSignature{Problem: "no approval recorded"}, nil
	}
	s := &ApprovalSignature{Commit: h}
	b, err := r.git.Run(ctx, "show", st.Commit+":"+p)
	if err != nil {
		s.Problem = "approval removed"
		return s, nil //nolint:nilerr // a removed approval is a state to show, not a failure
	}
	a, err := statefile.DecodeApproval(b)
	if err != nil {
		s.Problem = "not an approval"
		return s, nil //nolint:nilerr // shown in the matrix
	}
	s.By = a.ApprovedBy
	raw, err := r.git.Run(ctx, "cat-file", "commit", h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	payload, sig := signing.SplitCommit(raw, len(strings.TrimSpace(h)) == 64)
	if sig == nil {
		s.Problem = "unsigned"
		return s, nil
	}
	k, err := signing.Verify(payload, sig, st.Config.SignerKeys(a.ApprovedBy))
	if err != nil {
		s.Problem = err.Error()
		return s, nil //nolint:nilerr // a wrong signature is what the matrix reports
	}
	s.Signed, s.Key = true, signing.Fingerprint(k)
	return s, nil
}
