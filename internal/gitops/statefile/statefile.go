// Package statefile owns the state files of the GitOps repository: holds
// (state/holds/<env>/<service>.yaml), approvals
// (state/approvals/<env>/<service>/<version>.yaml), soak records
// (state/soaks/<env>/<service>/<version>.yaml) and the deploy queue
// (state/queue/<env>/<service>.yaml). Every command that writes them (hold,
// rollback, approve, soak, deploy --queue-if-soaking) and every reader
// (deploy's checks, status, history) uses these types, so a field means one
// thing everywhere (docs/gitops-format.md).
package statefile

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Hold is state/holds/<env>/<service>.yaml: while it exists, automated
// deploys of the service to the environment are refused.
type Hold struct {
	Since  time.Time `yaml:"since" json:"since,omitzero"`
	By     string    `yaml:"by" json:"by,omitempty"`
	Reason string    `yaml:"reason,omitempty" json:"reason,omitempty"`
	// Digest is the image that ran when the hold was placed.
	Digest string `yaml:"digest,omitempty" json:"digest,omitempty"`
}

// Approval is state/approvals/<env>/<service>/<version>.yaml: who approved
// which digest of a version for an environment, at whose request.
type Approval struct {
	Version     string    `yaml:"version" json:"version"`
	Digest      string    `yaml:"digest" json:"digest"`
	ApprovedBy  string    `yaml:"approvedBy" json:"approvedBy"`
	At          time.Time `yaml:"at" json:"at"`
	RequestedBy string    `yaml:"requestedBy,omitempty" json:"requestedBy,omitempty"`
}

// DecodeHold reads a hold file. A hold that does not parse is still a hold
// (its presence is what counts): the error says why its fields are empty.
func DecodeHold(b []byte) (Hold, error) {
	var h Hold
	err := yaml.Unmarshal(b, &h)
	return h, err
}

// DecodeApproval reads an approval file.
func DecodeApproval(b []byte) (Approval, error) {
	var a Approval
	err := yaml.Unmarshal(b, &a)
	return a, err
}
