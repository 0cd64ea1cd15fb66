// Package delivery defines delivery.yaml, the GitOps repository's delivery
// configuration: the environments in promotion order, how each one syncs and
// which refs deploy to it, who may approve, which services exist, and the
// freeze windows. Every command that decides something about an environment
// reads it from here; the defaults are the seed's table (docs/design.md §4).
// The file's format, and how it evolves, is docs/gitops-format.md.
package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
)

// FileName is the config file's name at the GitOps repository's root.
const FileName = "delivery.yaml"

// Trigger says which refs deploy to an environment.
type Trigger string

// Triggers.
const (
	TriggerMain    Trigger = "main"    // a push to the main branch
	TriggerRC      Trigger = "rc"      // a tag vX.Y.Z-rc.N
	TriggerRelease Trigger = "release" // a tag vX.Y.Z
	TriggerManual  Trigger = "manual"  // only smpctl promote/deploy by hand
)

// Approval is the gate in front of an environment.
type Approval string

// Approvals.
const (
	ApprovalNone           Approval = "none"
	ApprovalRequired       Approval = "approval"
	ApprovalReleaseManager Approval = "release-manager"
)

// Sync is how Argo CD (or the local runtime) applies the environment.
type Sync string

// Sync policies.
const (
	SyncAutomated Sync = "automated"
	SyncManual    Sync = "manual"
)

// APIVersion and Kind are delivery.yaml's type. A file may leave them out;
// any other value is refused (a different apiVersion would be a different
// schema, which no reader may guess at).
const (
	APIVersion = "delivery.smp.vn/v1"
	Kind       = "Delivery"
)

// FormatVersion is the newest format of the GitOps repository this smpctl
// reads and writes: delivery.yaml's version field, 1 when absent.
//
// A new format version only adds (keys, files, rules); it never changes
// the meaning of what an older version defines — that would be a new
// APIVersion. So a reader may read a newer version, ignoring what it does
// not know, but must not write it: it would bypass rules it does not know
// (a new gate) and could not keep files it does not know consistent. Writers
// call CheckWritable first. docs/gitops-format.md describes the format.
//
// Version 2 added notifications (NotificationsVersion); version 3 added
// onGateFailure and soak (ProtectionVersion), signers and
// signedApprovals (SignersVersion), approvalMaxAge
// (ApprovalMaxAgeVersion) and requireOIDC (RequireOIDCVersion); version 4
// added what binds a proven run to its write: a service's repository, an
// environment's githubEnvironment and trustedWorkflows (OIDCBindingVersion).
const FormatVersion = 4

// ErrNewerFormat means delivery.yaml declares a format version newer than
// FormatVersion: reading is allowed, writing is refused.
var ErrNewerFormat = fault.Invalidf(FileName + " is of a newer format")

// Config is delivery.yaml.
type Config struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
	// Version is the repository's format version (FormatVersion); absent
	// means 1.
	Version int `yaml:"version,omitempty" json:"version"`
	// MainBranch is the branch whose pushes deploy to the TriggerMain environment.
	MainBranch string `yaml:"mainBranch" json:"mainBranch"`
	// TagPrefix is put before "vX.Y.Z" in tags, e.g. "order-svc/" in a monorepo.
	TagPrefix string `yaml:"tagPrefix,omitempty" json:"tagPrefix,omitempty"`
	// Environments in promotion order.
	Environments []Environment `yaml:"environments" json:"environments"`
	// Approvers may approve environments with ApprovalRequired.
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	// ReleaseManagers may approve environments with ApprovalReleaseManager.
	ReleaseManagers []string `yaml:"releaseManagers,omitempty" json:"releaseManagers,omitempty"`
	// Services deployed through this repository.
	Services []Service `yaml:"services,omitempty" json:"services,omitempty"`
	// Freezes are windows in which deploys and promotions are refused.
	Freezes []Freeze `yaml:"freezes,omitempty" json:"freezes,omitempty"`
	// Identity commits are made under unless overridden.
	Identity Identity `yaml:"identity,omitempty" json:"identity,omitempty"`
	// Notifications (format version 2): who hears about deploys,
	// promotions, rollbacks, holds and gate failures, and where incidents
	// are opened.
	Notifications *Notifications `yaml:"notifications,omitempty" json:"notifications,omitempty"`
	// Signers (format version 3) are the SSH public keys that prove who
	// approves (signers.go).
	Signers []Signer `yaml:"signers,omitempty" json:"signers,omitempty"`
	// TrustedWorkflows (format version 4) are the reusable workflows,
	// as job_workflow_ref patterns (OWNER/REPO/PATH@REF, path.Match), whose
	// jobs may prove a run where an environment has requireOIDC; default
	// DefaultTrustedWorkflows.
	TrustedWorkflows []string `yaml:"trustedWorkflows,omitempty" json:"trustedWorkflows,omitempty"`
}

// Environment is one stage of the promotion path.
type Environment struct {
	Name     string   `yaml:"name" json:"name"`
	Sync     Sync     `yaml:"sync" json:"sync"`
	Trigger  Trigger  `yaml:"trigger" json:"trigger"`
	Approval Approval `yaml:"approval" json:"approval"`
	// AllowSkip lets promote copy into this environment from an environment
	// other than the one just before it.
	AllowSkip bool `yaml:"allowSkip,omitempty" json:"allowSkip,omitempty"`
	// Namespace in the cluster; defaults to smp-<name>.
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// URL where the environment's API answers (used by smoke tests).
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// OnGateFailure (format version 3) is what `smpctl verify --for` does
	// when the metric gate fails here; default rollback.
	OnGateFailure GateAction `yaml:"onGateFailure,omitempty" json:"onGateFailure,omitempty"`
	// Soak (format version 3) is how long a version must have run in the
	// environment before this one, with its gate passing, before it may be
	// promoted here.
	Soak Duration `yaml:"soak,omitempty" json:"soak,omitempty"`
	// SignedApprovals (format version 3) lets only approvals whose commit
	// is signed by a key signers lists for the approver through the gate.
	SignedApprovals bool `yaml:"signedApprovals,omitempty" json:"signedApprovals,omitempty"`
	// ApprovalMaxAge (format version 3) is how long an approval counts
	// after its commit: an older one no longer lets a deploy or promote
	// through (approvalage.go). Zero: approvals do not expire.
	ApprovalMaxAge Duration `yaml:"approvalMaxAge,omitempty" json:"approvalMaxAge,omitempty"`
	// RequireOIDC (format version 3): a write that records a CI run
	// (Pipeline-Run, which lets a deploy or promote through unsigned) must
	// have proven that run with its OIDC token (smpctl --oidc); a typed
	// --run is refused.
	RequireOIDC bool `yaml:"requireOIDC,omitempty" json:"requireOIDC,omitempty"`
	// GitHubEnvironment (format version 4) is the GitHub Actions
	// environment the CD's jobs that write this environment run in (the
	// reusable CD's prod jobs run in "production"); default the name. With
	// requireOIDC, a proven run's environment claim must be this one or a
	// later environment's.
	GitHubEnvironment string `yaml:"githubEnvironment,omitempty" json:"githubEnvironment,omitempty"`
}

// Service is a service deployed through the repository.
type Service struct {
	Name string `yaml:"name" json:"name"`
	// Critical services use blue/green in environments whose name is prod.
	Critical bool `yaml:"critical,omitempty" json:"critical,omitempty"`
	// Image repository, e.g. ghcr.io/smp/order-svc.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// TagPrefix overrides Config.TagPrefix for this service's repository.
	TagPrefix string `yaml:"tagPrefix,omitempty" json:"tagPrefix,omitempty"`
	// Repository (format version 4) is the GitHub repository (OWNER/NAME)
	// whose CD deploys the service: where an environment has requireOIDC,
	// only a run of this repository may write the service there.
	Repository string `yaml:"repository,omitempty" json:"repository,omitempty"`
}

// Freeze is a window in which changes to the named environments are refused.
// A weekly freeze sets Weekly; a one-off freeze sets From and Until.
type Freeze struct {
	Name         string   `yaml:"name" json:"name"`
	Reason       string   `yaml:"reason,omitempty" json:"reason,omitempty"`
	Environments []string `yaml:"environments" json:"environments"`
	// TimeZone is an IANA zone such as Asia/Ho_Chi_Minh; default UTC.
	TimeZone string `yaml:"timeZone,omitempty" json:"timeZone,omitempty"`
	// Weekly window, e.g. start "Fri 17:00", end "Mon 08:00".
	Weekly *WeeklyWindow `yaml:"weekly,omitempty" json:"weekly,omitempty"`
	// One-off window (RFC 3339).
	From  *time.Time `yaml:"from,omitempty" json:"from,omitempty"`
	Until *time.Time `yaml:"until,omitempty" json:"until,omitempty"`
}

// WeeklyWindow is a recurring window: "Fri 17:00" to "Mon 08:00".
type WeeklyWindow struct {
	Start string `yaml:"start" json:"start"`
	End   string `yaml:"end" json:"end"`
}

// Identity is a git author/committer.
type Identity struct {
	Name  string `yaml:"name,omitempty" json:"name,omitempty"`
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
}

// Default returns the seed's table: main → dev (automatic), vX.Y.Z-rc.N →
// staging (approval), vX.Y.Z → prod (release manager), dev synced
// automatically, staging and prod by hand.
func Default() *Config {
	return &Config{
		APIVersion: APIVersion,
		Kind:       Kind,
		Version:    1, // the seed's table uses nothing a later version added
		MainBranch: "main",
		Environments: []Environment{
			{Name: "dev", Sync: SyncAutomated, Trigger: TriggerMain, Approval: ApprovalNone},
			{Name: "staging", Sync: SyncManual, Trigger: TriggerRC, Approval: ApprovalRequired},
			{Name: "prod", Sync: SyncManual, Trigger: TriggerRelease, Approval: ApprovalReleaseManager},
		},
		Identity: Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"},
	}
}

// nameRE with the length bound checked apart: a bounded repetition
// ({0,61}) compiles to a program of that many states at every start.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidName reports whether s is a valid environment or service name: a DNS
// label (lower case letters, digits and '-', at most 63 characters), so it is
// safe as a path element and a Kubernetes name.
func ValidName(s string) bool { return len(s) <= 63 && nameRE.MatchString(s) }

// CheckName returns a user-facing error when s is not a valid name.
func CheckName(what, s string) error {
	if ValidName(s) {
		return nil
	}
	return fault.Invalidf("invalid %s %q: use lower-case letters, digits and '-' (a DNS label, at most 63 characters, no '/', '..' or spaces)", what, s)
}

// personRE is who acts: a login such as GitHub's (letters, digits, '-'),
// an email address, or a bot's login ("dependabot[bot]").
var personRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+\[\]-]*$`)

// CheckPerson returns a user-facing error when s is not a plain login:
// approvals and the four-eyes rule compare these names, so "carol " (with
// a space) or a name with a newline must not pass for another person.
func CheckPerson(what, s string) error {
	if len(s) <= 100 && personRE.MatchString(s) {
		return nil
	}
	return fault.Invalidf("invalid %s %q: give a login (letters, digits, '.', '-', '_', '@', '+'; no spaces), as listed in %s", what, s, FileName)
}

// Load reads and validates a delivery config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fault.Invalidf("read delivery config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a delivery config. Unknown fields are errors,
// so a typo never silently falls back to a default — except in a file of a
// newer format version (see FormatVersion), whose new fields are ignored:
// such a config reads, and CheckWritable refuses to write it.
func Parse(b []byte) (*Config, error) {
	var head struct {
		Version any `yaml:"version"`
	}
	if err := yaml.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("parse delivery config: %w", err)
	}
	v, ok := head.Version.(int)
	switch {
	case head.Version == nil:
		v = 1
	case !ok || v < 1:
		return nil, fmt.Errorf("version: %v is not a format version: write a whole number (this smpctl knows 1 to %d; leave it out to mean 1)", head.Version, FormatVersion)
	}
	if err := checkNoSecrets(b); err != nil {
		return nil, err
	}
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(v <= FormatVersion)
	if err := dec.Decode(c); err != nil {
		return nil, fault.Invalidf("parse delivery config: %w", err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		if c.Version > FormatVersion {
			return nil, fault.Invalid(fmt.Errorf("%w (%s is format version %d and this smpctl knows version %d at most: upgrade smpctl)", err, FileName, c.Version, FormatVersion))
		}
		return nil, fault.Invalid(err)
	}
	return c, nil
}

// CheckWritable returns an error wrapping ErrNewerFormat when the config
// is of a newer format version than this smpctl writes.
func (c *Config) CheckWritable() error {
	if c.Version <= FormatVersion {
		return nil
	}
	return fmt.Errorf("%w: it says version: %d, and this smpctl writes format version %d at most; it reads the repository but will not change it, so that the rules and files of version %d are neither bypassed nor left inconsistent: upgrade smpctl to a release that supports format version %d",
		ErrNewerFormat, c.Version, FormatVersion, c.Version, c.Version)
}

func (c *Config) applyDefaults() {
	d := Default()
	if c.Version == 0 {
		c.Version = 1 // absent means 1: the files written before version existed
	}
	if c.MainBranch == "" {
		c.MainBranch = d.MainBranch
	}
	if len(c.Environments) == 0 {
		c.Environments = d.Environments
	}
	for i := range c.Environments {
		e := &c.Environments[i]
		if e.Sync == "" {
			e.Sync = SyncManual
		}
		if e.Approval == "" {
			e.Approval = ApprovalNone
		}
		if e.Trigger == "" {
			e.Trigger = TriggerManual
		}
	}
	if c.Identity.Name == "" {
		c.Identity.Name = d.Identity.Name
	}
	if c.Identity.Email == "" {
		c.Identity.Email = d.Identity.Email
	}
}

// Validate checks the config's invariants.
func (c *Config) Validate() error {
	var errs []error
	if c.APIVersion != "" && c.APIVersion != APIVersion {
		errs = append(errs, fmt.Errorf("apiVersion: %q is not a schema this smpctl reads (%s); a different apiVersion changes what the fields mean: use a smpctl that supports it", c.APIVersion, APIVersion))
	}
	if c.Kind != "" && c.Kind != Kind {
		errs = append(errs, fmt.Errorf("kind: %q, want %s", c.Kind, Kind))
	}
	for _, list := range []struct {
		field  string
		people []string
	}{{"approvers", c.Approvers}, {"releaseManagers", c.ReleaseManagers}} {
		for i, p := range list.people {
			if err := CheckPerson("login", p); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", list.field, i, err))
			}
		}
	}
	seen := map[string]bool{}
	triggers := map[Trigger]string{}
	for i, e := range c.Environments {
		where := fmt.Sprintf("environments[%d]", i)
		if err := CheckName("environment name", e.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s.name: %w", where, err))
		}
		if seen[e.Name] {
			errs = append(errs, fmt.Errorf("%s.name: environment %q is listed twice", where, e.Name))
		}
		seen[e.Name] = true
		switch e.Sync {
		case SyncAutomated, SyncManual:
		default:
			errs = append(errs, fmt.Errorf("%s.sync: %q is not one of automated, manual", where, e.Sync))
		}
		switch e.Approval {
		case ApprovalNone, ApprovalRequired, ApprovalReleaseManager:
		default:
			errs = append(errs, fmt.Errorf("%s.approval: %q is not one of none, approval, release-manager", where, e.Approval))
		}
		switch e.Trigger {
		case TriggerManual:
		case TriggerMain, TriggerRC, TriggerRelease:
			if other, dup := triggers[e.Trigger]; dup {
				errs = append(errs, fmt.Errorf("%s.trigger: %q already deploys to %s; one environment per trigger", where, e.Trigger, other))
			}
			triggers[e.Trigger] = e.Name
		default:
			errs = append(errs, fmt.Errorf("%s.trigger: %q is not one of main, rc, release, manual", where, e.Trigger))
		}
	}
	svcs := map[string]bool{}
	for i, s := range c.Services {
		if err := CheckName("service name", s.Name); err != nil {
			errs = append(errs, fmt.Errorf("services[%d].name: %w", i, err))
		}
		if svcs[s.Name] {
			errs = append(errs, fmt.Errorf("services[%d].name: service %q is listed twice", i, s.Name))
		}
		svcs[s.Name] = true
	}
	for i, f := range c.Freezes {
		for _, e := range f.Environments {
			if !seen[e] {
				errs = append(errs, fmt.Errorf("freezes[%d].environments: unknown environment %q", i, e))
			}
		}
		if f.TimeZone != "" {
			if _, err := time.LoadLocation(f.TimeZone); err != nil {
				errs = append(errs, fmt.Errorf("freezes[%d].timeZone: %w", i, err))
			}
		}
	}
	errs = append(errs, c.validateNotifications(seen)...)
	errs = append(errs, c.validateProtection()...)
	errs = append(errs, c.validateSigners()...)
	errs = append(errs, c.validateRequireOIDC()...)
	errs = append(errs, c.validateApprovalAge()...)
	return errors.Join(errs...)
}

// Env returns the named environment.
func (c *Config) Env(name string) (Environment, int, bool) {
	for i, e := range c.Environments {
		if e.Name == name {
			return e, i, true
		}
	}
	return Environment{}, -1, false
}

// EnvForTrigger returns the environment a trigger deploys to.
func (c *Config) EnvForTrigger(t Trigger) (Environment, bool) {
	for _, e := range c.Environments {
		if e.Trigger == t {
			return e, true
		}
	}
	return Environment{}, false
}

// EnvNames lists the environments in promotion order.
func (c *Config) EnvNames() []string {
	names := make([]string, len(c.Environments))
	for i, e := range c.Environments {
		names[i] = e.Name
	}
	return names
}

// Service returns the named service.
func (c *Config) Service(name string) (Service, bool) {
	for _, s := range c.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}
