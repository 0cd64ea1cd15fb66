package delivery

import (
	"fmt"
	"time"
)

// ApprovalMaxAgeVersion is the format version that added approvalMaxAge,
// with signed approvals (issue #15). An older smpctl reads such a
// repository but must not write it: it would let an expired approval
// through the gate.
const ApprovalMaxAgeVersion = 3

// minApprovalMaxAge is the shortest approvalMaxAge: under it, an approval
// could expire between `smpctl approve` and the deploy it is for.
const minApprovalMaxAge = time.Minute

// ApprovalExpiry is when an approval of e given at approvedAt (its
// commit's time) stops letting deploys and promotions through; ok is false
// where approvals do not expire (no approvalMaxAge, the default).
func (e Environment) ApprovalExpiry(approvedAt time.Time) (expiry time.Time, ok bool) {
	if e.ApprovalMaxAge <= 0 || e.Approval == ApprovalNone {
		return time.Time{}, false
	}
	return approvedAt.Add(e.ApprovalMaxAge.D()), true
}

// validateApprovalAge checks approvalMaxAge: known format version, an
// environment that takes approvals, and a sensible duration.
func (c *Config) validateApprovalAge() []error {
	var errs []error
	for i, e := range c.Environments {
		if e.ApprovalMaxAge == 0 {
			continue
		}
		where := fmt.Sprintf("environments[%d].approvalMaxAge", i)
		if c.Version < ApprovalMaxAgeVersion {
			errs = append(errs, fmt.Errorf("%s: approvalMaxAge was added in format version %d, and this file says version: %d: write version: %d at the top of %s, so that an older smpctl reads the repository but does not write past it", where, ApprovalMaxAgeVersion, c.Version, ApprovalMaxAgeVersion, FileName))
		}
		switch {
		case e.Approval == ApprovalNone:
			errs = append(errs, fmt.Errorf("%s: %s needs no approval (approval: none), so there is nothing to expire: set approval, or remove approvalMaxAge", where, e.Name))
		case e.ApprovalMaxAge < 0:
			errs = append(errs, fmt.Errorf("%s: %s is negative: give how long an approval counts after it is given, e.g. 72h", where, e.ApprovalMaxAge))
		case e.ApprovalMaxAge.D() < minApprovalMaxAge:
			errs = append(errs, fmt.Errorf("%s: %s is under a minute: an approval would expire before the deploy it is for; give at least 1m (72h is usual)", where, e.ApprovalMaxAge))
		}
	}
	return errs
}
