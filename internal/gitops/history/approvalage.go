package history

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ApprovalAge is a recorded approval, in an environment with
// approvalMaxAge, of a version the environment does not run: one a deploy
// or promote could still use, and when it stops counting. The gate reads
// its age the same way: the time of the newest commit that wrote the
// approval file.
type ApprovalAge struct {
	Environment string    `json:"environment"`
	Service     string    `json:"service"`
	Version     string    `json:"version"`
	Digest      string    `json:"digest,omitempty"`
	ApprovedBy  string    `json:"approvedBy,omitempty"`
	ApprovedAt  time.Time `json:"approvedAt"`
	Commit      string    `json:"commit"`
	ExpiresAt   time.Time `json:"expiresAt"`
	// Expired: as of the time status ran, the approval no longer lets a
	// deploy or promote through; `smpctl approve` again renews it.
	Expired bool `json:"expired"`
}

// ApprovalAges lists, for the environments of st with approvalMaxAge, the
// approvals at st.Commit of a digest other than the one the environment
// runs for the service, with when each expires and whether it has at now.
// Environments without approvalMaxAge (the default) are not read.
func (r *Repo) ApprovalAges(ctx context.Context, st *Status, now time.Time) ([]ApprovalAge, error) {
	return r.ApprovalAgesOf(ctx, st, now, nil)
}

// ApprovalAgesOf is ApprovalAges for a caller that has read some
// environments' approvals at st.Commit already (Repo.Approvals, by
// environment name): those are not read again.
func (r *Repo) ApprovalAgesOf(ctx context.Context, st *Status, now time.Time, read map[string][]Approval) ([]ApprovalAge, error) {
	if st.Config == nil {
		return nil, nil
	}
	var out []ApprovalAge
	for _, e := range st.Config.Environments {
		if _, expires := e.ApprovalExpiry(now); !expires {
			continue
		}
		approvals, ok := read[e.Name]
		if !ok {
			var err error
			if approvals, err = r.Approvals(ctx, st.Commit, e.Name); err != nil {
				return nil, err
			}
		}
		for _, a := range approvals {
			if a.Error != "" {
				continue // not an approval: it lets nothing through anyway
			}
			if c, ok := st.Cell(a.Service, e.Name); ok && c.Digest != "" && c.Digest == a.Digest {
				continue // already used: what runs there
			}
			at, commit, err := r.approvedAt(ctx, st.Commit, e.Name, a.Service, a.Version)
			if err != nil {
				return nil, err
			}
			exp, _ := e.ApprovalExpiry(at)
			out = append(out, ApprovalAge{
				Environment: e.Name, Service: a.Service, Version: a.Version, Digest: a.Digest, ApprovedBy: a.ApprovedBy,
				ApprovedAt: at, Commit: commit, ExpiresAt: exp, Expired: !now.Before(exp),
			})
		}
	}
	return out, nil
}

// approvedAt is the time and hash of the newest commit at commit that
// wrote the approval file of svc version in env.
func (r *Repo) approvedAt(ctx context.Context, commit, env, svc, version string) (time.Time, string, error) {
	p := fmt.Sprintf("state/approvals/%s/%s/%s.yaml", env, svc, version)
	out, err := r.git.Output(ctx, "log", "-1", "--format=%H %ct", commit, "--", p)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("read when %s %s was approved for %s: %w", svc, version, env, err)
	}
	h, ct, ok := strings.Cut(strings.TrimSpace(out), " ")
	sec, perr := strconv.ParseInt(ct, 10, 64)
	if !ok || perr != nil {
		return time.Time{}, "", fmt.Errorf("read when %s %s was approved for %s: git log printed %q", svc, version, env, out)
	}
	return time.Unix(sec, 0).UTC(), h, nil
}
