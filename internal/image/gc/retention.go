// Package gc deletes old development images from a registry without
// ever touching what matters (docs/design.md §2.9).
//
// The unit is the digest, not the tag: on GHCR a tag is a label on one
// package version, and deleting a dev tag's version deletes every tag on
// that digest; on an OCI registry, deleting a manifest drops all its tags.
// So a digest is deleted only when every rule below agrees:
//
//   - all its tags are sha-<short> tags (a release, rc or any other tag
//     keeps it forever);
//   - no environment file of the GitOps repository, and no hold or approval
//     record, names it (by digest, or by a tag that points to it);
//   - its build is older than the limit (an unknown age keeps it).
//
// Signatures (sha256-<hex>.sig) and SBOM referrers follow their subject:
// deleted with it, kept otherwise. Untagged manifests (index children,
// referrers) are never judged on their own.
package gc

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// ErrBadInput marks a request the user must fix (exit 2); nothing is deleted.
var ErrBadInput = fault.Invalidf("invalid retention request")

// Version is one digest of the repository and the tags on it.
type Version struct {
	// Digest is sha256:<hex>.
	Digest string `json:"digest"`
	// Tags on the digest (possibly none).
	Tags []string `json:"tags"`
	// Created is when the image was built (zero: unknown).
	Created time.Time `json:"created"`
	// ID is the backend's handle (GHCR's package version id); empty for OCI.
	ID string `json:"id,omitempty"`
}

// Backend lists and deletes digests of one repository.
type Backend interface {
	// List returns every digest with its tags.
	List(ctx context.Context) ([]Version, error)
	// Delete removes one digest (and so all its tags); attachments are
	// passed separately by the caller.
	Delete(ctx context.Context, v Version) error
	// Name describes the backend and repository for output.
	Name() string
}

// Action is what gc does with a version.
type Action string

// The actions.
const (
	Keep   Action = "keep"
	Delete Action = "delete"
)

// Decision is the verdict on one version and why.
type Decision struct {
	Version Version `json:"version"`
	Action  Action  `json:"action"`
	Reason  string  `json:"reason"`
	// Attachments are signature and SBOM-fallback versions that go with it.
	Attachments []Version `json:"attachments,omitempty"`
}

// References are what the GitOps repository points at.
type References struct {
	// Digests maps a digest to where it is referenced (e.g. environments/prod/order-svc.yaml).
	Digests map[string][]string
	// Tags maps a tag to where it is referenced (files that pin a tag without a digest).
	Tags map[string][]string
}

// Policy is the retention rule.
type Policy struct {
	// MaxAge is how long a dev-only digest lives (e.g. 720h).
	MaxAge time.Duration
	// Now is the clock.
	Now time.Time
}

var (
	devTag        = regexp.MustCompile(`^sha-[0-9a-f]{7,40}$`)
	attachmentTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})(\.sig|\.att|\.sbom)?$`)
)

// subjectOf returns the digest an attachment tag belongs to.
func subjectOf(tag string) (string, bool) {
	m := attachmentTag.FindStringSubmatch(tag)
	if m == nil {
		return "", false
	}
	return "sha256:" + m[1], true
}

// Plan decides, for every version, keep or delete. It is pure: the same
// inputs give the same decisions, in digest order.
func Plan(versions []Version, refs References, p Policy) ([]Decision, error) {
	if p.MaxAge <= 0 {
		return nil, fault.Inputf("DevMaxAge", "%w: the dev maximum age must be positive, e.g. 720h (30 days)", ErrBadInput)
	}
	attachments := map[string][]Version{}
	var images []Version
	for _, v := range versions {
		if subj, ok := attachmentOnly(v); ok {
			attachments[subj] = append(attachments[subj], v)
			continue
		}
		images = append(images, v)
	}
	sort.Slice(images, func(i, j int) bool { return images[i].Digest < images[j].Digest })
	var out []Decision
	for _, v := range images {
		d := Decision{Version: v, Action: Keep}
		d.Reason = judge(v, refs, p)
		if d.Reason == "" {
			d.Action = Delete
			d.Reason = fmt.Sprintf("dev-only, unreferenced, built %s ago (limit %s)", age(p.Now.Sub(v.Created)), age(p.MaxAge))
			d.Attachments = attachments[v.Digest]
		}
		out = append(out, d)
	}
	return out, nil
}

// attachmentOnly reports whether every tag of v is an attachment tag of
// one subject digest.
func attachmentOnly(v Version) (string, bool) {
	if len(v.Tags) == 0 {
		return "", false
	}
	subj := ""
	for _, t := range v.Tags {
		s, ok := subjectOf(t)
		if !ok || (subj != "" && s != subj) {
			return "", false
		}
		subj = s
	}
	return subj, true
}

// judge returns why v must be kept, or "" when it may go.
func judge(v Version, refs References, p Policy) string {
	if len(v.Tags) == 0 {
		return "untagged (an index child or a referrer): follows its parent"
	}
	for _, t := range v.Tags {
		if !devTag.MatchString(t) {
			return fmt.Sprintf("carries %q, not a sha- dev tag: kept forever", t)
		}
	}
	if where := refs.Digests[v.Digest]; len(where) > 0 {
		return "referenced by " + strings.Join(where, ", ")
	}
	for _, t := range v.Tags {
		if where := refs.Tags[t]; len(where) > 0 {
			return fmt.Sprintf("tag %s referenced by %s", t, strings.Join(where, ", "))
		}
	}
	if v.Created.IsZero() {
		return "build time unknown: kept"
	}
	if a := p.Now.Sub(v.Created); a <= p.MaxAge {
		return fmt.Sprintf("built %s ago, within %s", age(a), age(p.MaxAge))
	}
	return ""
}

func age(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return d.Round(time.Minute).String()
}

// Result is the outcome of Run.
type Result struct {
	Backend   string     `json:"backend"`
	DryRun    bool       `json:"dryRun"`
	Decisions []Decision `json:"decisions"`
	Deleted   int        `json:"deleted"`
	Kept      int        `json:"kept"`
}

// Run lists the repository, plans, and (unless dryRun) deletes each doomed
// digest, then its attachments. It stops at the first failed deletion and
// reports it; what was deleted before stays deleted (each deletion is
// independent and safe on its own).
func Run(ctx context.Context, b Backend, refs References, p Policy, dryRun bool) (*Result, error) {
	if _, err := Plan(nil, refs, p); err != nil {
		return nil, err // a bad policy is refused before the registry is asked
	}
	versions, err := b.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b.Name(), err)
	}
	ds, err := Plan(versions, refs, p)
	if err != nil {
		return nil, err
	}
	res := &Result{Backend: b.Name(), DryRun: dryRun, Decisions: ds}
	for _, d := range ds {
		if d.Action == Keep {
			res.Kept++
			continue
		}
		if dryRun {
			continue
		}
		if err := b.Delete(ctx, d.Version); err != nil {
			return res, fmt.Errorf("delete %s (%s): %w", d.Version.Digest, strings.Join(d.Version.Tags, ","), err)
		}
		res.Deleted++
		for _, a := range d.Attachments {
			if err := b.Delete(ctx, a); err != nil {
				return res, fmt.Errorf("delete %s's attachment %s: %w", d.Version.Digest, a.Digest, err)
			}
		}
	}
	return res, nil
}
