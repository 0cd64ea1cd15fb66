package delivery

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// ProtectionVersion is the format version that added releases that protect
// themselves (docs/gitops-format.md): an environment's onGateFailure and
// soak. An older smpctl reads such a repository but must not write it: it
// would promote a version that did not soak, or leave a failed gate to a
// person.
const ProtectionVersion = 3

// GateAction is what `smpctl verify --for` does when the metric gate fails
// in an environment.
type GateAction string

// Gate actions.
const (
	// GateRollback writes the rollback commit and a hold (in a blue/green
	// environment, after aborting the Rollout while the previous
	// ReplicaSet still runs). The default.
	GateRollback GateAction = "rollback"
	// GateHold only holds the service: a person decides.
	GateHold GateAction = "hold"
	// GateNotify only reports (notifications, exit 1).
	GateNotify GateAction = "notify"
)

// GateActions lists the actions in the order docs name them.
var GateActions = []GateAction{GateRollback, GateHold, GateNotify}

// Duration is a time.Duration written as Go writes one ("30m", "1h30m").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String is how delivery.yaml writes it.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads "30m"; a bare number is refused (minutes? seconds?).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil || n.Tag == "!!int" || n.Tag == "!!float" {
		return fmt.Errorf("line %d: %q is not a duration: write it with its unit, e.g. 30m or 1h", n.Line, n.Value)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration: write it with its unit, e.g. 30m or 1h", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the string form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText is the JSON form (smpctl -o json).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// GateActionFor is what a failed gate does in env: its onGateFailure, or
// rollback.
func (e Environment) GateActionFor() GateAction {
	if e.OnGateFailure == "" {
		return GateRollback
	}
	return e.OnGateFailure
}

// validateProtection checks onGateFailure and soak against the format
// version that added them.
func (c *Config) validateProtection() []error {
	var errs []error
	for i, e := range c.Environments {
		where := fmt.Sprintf("environments[%d]", i)
		if (e.OnGateFailure != "" || e.Soak != 0) && c.Version < ProtectionVersion {
			errs = append(errs, fmt.Errorf("%s: onGateFailure and soak were added in format version %d, and this file says version: %d: write version: %d at the top of %s, so that an older smpctl reads the repository but does not write past them", where, ProtectionVersion, c.Version, ProtectionVersion, FileName))
		}
		switch e.OnGateFailure {
		case "", GateRollback, GateHold, GateNotify:
		default:
			errs = append(errs, fmt.Errorf("%s.onGateFailure: %q is not one of rollback, hold, notify", where, e.OnGateFailure))
		}
		switch {
		case e.Soak < 0:
			errs = append(errs, fmt.Errorf("%s.soak: %s is negative: give how long a version must run in the environment before this one, e.g. 30m", where, e.Soak))
		case e.Soak != 0 && i == 0:
			errs = append(errs, fmt.Errorf("%s.soak: %s is the first environment: soak is how long a version must have run in the environment before it, and there is none", where, e.Name))
		case e.Soak != 0 && e.Soak.D() < time.Second:
			errs = append(errs, fmt.Errorf("%s.soak: %s is under a second: give at least 1s (30m is usual)", where, e.Soak))
		}
	}
	return errs
}
