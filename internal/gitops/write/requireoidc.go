package write

import (
	"fmt"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
)

// ErrRunNotProven means a write records a CI run (Pipeline-Run) in an
// environment with requireOIDC without having proven it.
var ErrRunNotProven = fault.Refusedf("the CI run this write records is not proven")

// checkRunProven is requireOIDC: in such an environment, a write that
// records a CI run — what lets a deploy or promote through without a
// person's signature — must have proven it with the run's OIDC token
// (Common.RunProven, set by smpctl --oidc). A write without --run is a
// person's, and the person's own gates apply.
func checkRunProven(e delivery.Environment, c Common, action string) error {
	if !e.RequireOIDC || c.Run == "" || c.RunProven {
		return nil
	}
	return fmt.Errorf("%w: %s requires CI writes to prove their run (requireOIDC in %s), and this %s gives --run %s without proof: run it from the CD with --oidc (the job needs permissions: id-token: write); as a person, drop --run and sign it",
		ErrRunNotProven, e.Name, delivery.FileName, action, c.Run)
}
