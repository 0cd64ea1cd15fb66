package protect

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Difference is one setting where GitHub differs from the file.
type Difference struct {
	// Where is "repository", "branch <name>", "environment <name>" or
	// "organization <owner>".
	Where  string `json:"where"`
	Field  string `json:"field"`
	GitHub string `json:"github"`
	Want   string `json:"want"`
	// Fix, when set, is what a person must do: Apply cannot make this
	// change (a secret's value, a secret every job can read).
	Fix string `json:"fix,omitempty"`
}

func (d Difference) String() string {
	have := d.GitHub
	switch {
	case have != "":
	case strings.HasPrefix(d.Where, "environment "):
		have = "nothing (no such environment)"
	default:
		have = "nothing (branch not protected)"
	}
	s := fmt.Sprintf("%s: %s: GitHub has %s, settings want %s", d.Where, d.Field, have, d.Want)
	if d.Fix != "" {
		s += "; " + d.Fix
	}
	return s
}

// ByHand reports whether only a person can fix d (Apply leaves it).
func (d Difference) ByHand() bool { return d.Fix != "" }

// repoName is compiled on first use: its bounded repetitions make it cost
// milliseconds, which every smpctl command would pay at start.
var repoName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})$`)
})

// ParseRepo splits OWNER/NAME and rejects anything else.
func ParseRepo(s string) (owner, name string, err error) {
	m := repoName().FindStringSubmatch(s)
	if m == nil || m[2] == "." || m[2] == ".." {
		return "", "", fmt.Errorf("repository %q is not OWNER/NAME (e.g. smp/order-svc)", s)
	}
	return m[1], m[2], nil
}

// Check compares GitHub's settings of owner/name with s and returns every
// difference, sorted by where it is; none means GitHub matches the file.
func Check(ctx context.Context, c *Client, owner, name string, s *Settings) ([]Difference, error) {
	st, err := read(ctx, c, owner, name, s)
	if err != nil {
		return nil, err
	}
	return compare(owner, name, s, st), nil
}

// state is what GitHub has of what the settings name.
type state struct {
	repo     repoState
	branches []*protectionState // per Settings.Branches; nil: not protected
	envs     []environmentState // per Settings.Environments
	// repoSecrets and orgSecrets are the upper-case names of the secrets
	// every job of the repository can read; read only when an
	// environment names secrets.
	repoSecrets, orgSecrets map[string]bool
}

func read(ctx context.Context, c *Client, owner, name string, s *Settings) (*state, error) {
	st := &state{}
	var err error
	if st.repo, err = c.getRepo(ctx, owner, name); err != nil {
		return nil, fmt.Errorf("read repository %s/%s: %w", owner, name, err)
	}
	for _, b := range s.Branches {
		p, err := c.getProtection(ctx, owner, name, b.Name)
		if err != nil {
			return nil, fmt.Errorf("read protection of %s/%s branch %s: %w", owner, name, b.Name, err)
		}
		st.branches = append(st.branches, p)
	}
	secrets := false
	for _, e := range s.Environments {
		secrets = secrets || len(e.Secrets) > 0
	}
	if secrets {
		if st.repoSecrets, err = c.repoSecrets(ctx, owner, name); err != nil {
			return nil, fmt.Errorf("read the repository secrets' names of %s/%s: %w", owner, name, err)
		}
		if st.orgSecrets, err = c.orgSecrets(ctx, owner, name); err != nil {
			return nil, fmt.Errorf("read the names of the organization secrets %s/%s can read: %w", owner, name, err)
		}
	}
	for _, e := range s.Environments {
		es, err := readEnvironment(ctx, c, owner, name, e)
		if err != nil {
			return nil, fmt.Errorf("read environment %s of %s/%s: %w", e.Name, owner, name, err)
		}
		st.envs = append(st.envs, es)
	}
	return st, nil
}

// differences compares two flattened views of one place, key by key in
// the order of their names.
func differences(where string, want, have map[string]string) []Difference {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var diffs []Difference
	for _, k := range keys {
		if have[k] != want[k] {
			diffs = append(diffs, Difference{Where: where, Field: k, GitHub: have[k], Want: want[k]})
		}
	}
	return diffs
}

func compare(owner, name string, s *Settings, st *state) []Difference {
	wantRepo, haveRepo := map[string]string{}, map[string]string{}
	for _, f := range []struct {
		name string
		want *bool
		have bool
	}{
		{"delete_branch_on_merge", s.Repository.DeleteBranchOnMerge, st.repo.DeleteBranchOnMerge},
		{"allow_merge_commit", s.Repository.AllowMergeCommit, st.repo.AllowMergeCommit},
		{"allow_squash_merge", s.Repository.AllowSquashMerge, st.repo.AllowSquashMerge},
		{"allow_rebase_merge", s.Repository.AllowRebaseMerge, st.repo.AllowRebaseMerge},
	} {
		if f.want != nil {
			wantRepo[f.name] = strconv.FormatBool(*f.want)
			haveRepo[f.name] = strconv.FormatBool(f.have)
		}
	}
	diffs := differences("repository", wantRepo, haveRepo)
	for i, b := range s.Branches {
		diffs = append(diffs, differences("branch "+b.Name, wantBranch(b), haveBranch(st.branches[i]))...)
	}
	for i, e := range s.Environments {
		diffs = append(diffs, differences("environment "+e.Name, wantEnvironment(e), haveEnvironment(st.envs[i]))...)
	}
	return append(diffs, secretDifferences(owner, name, s, st)...)
}

const off = "off"

// putChecksAndReviews flattens the status-check and review rules into m,
// the same way for the settings file and for what GitHub reports, so the two
// compare key by key.
func putChecksAndReviews(m map[string]string, c *StatusChecks, r *PullRequestReviews) {
	if c != nil {
		m["required_status_checks.strict"] = strconv.FormatBool(c.Strict)
		m["required_status_checks.contexts"] = list(c.Contexts)
	} else {
		m["required_status_checks"] = off
	}
	if r != nil {
		m["required_pull_request_reviews.required_approving_review_count"] = strconv.Itoa(r.RequiredApprovingReviewCount)
		m["required_pull_request_reviews.require_code_owner_reviews"] = strconv.FormatBool(r.RequireCodeOwnerReviews)
		m["required_pull_request_reviews.dismiss_stale_reviews"] = strconv.FormatBool(r.DismissStaleReviews)
		// Said only where someone may bypass, so a difference names them.
		if b := r.Bypass; !b.empty() {
			m["required_pull_request_reviews.bypass_pull_request_allowances.users"] = list(b.Users)
			m["required_pull_request_reviews.bypass_pull_request_allowances.teams"] = list(b.Teams)
			m["required_pull_request_reviews.bypass_pull_request_allowances.apps"] = list(b.Apps)
		}
	} else {
		m["required_pull_request_reviews"] = off
	}
}

func wantBranch(b Branch) map[string]string {
	m := map[string]string{"protected": "true"}
	putChecksAndReviews(m, b.RequiredStatusChecks, b.RequiredPullRequestReviews)
	m["enforce_admins"] = strconv.FormatBool(b.EnforceAdmins)
	m["required_linear_history"] = strconv.FormatBool(b.RequiredLinearHistory)
	m["allow_force_pushes"] = strconv.FormatBool(b.AllowForcePushes)
	m["allow_deletions"] = strconv.FormatBool(b.AllowDeletions)
	m["required_signatures"] = strconv.FormatBool(b.RequiredSignatures)
	return m
}

func haveBranch(p *protectionState) map[string]string {
	if p == nil {
		// An unprotected branch: say so once, and every rule reads as absent.
		return map[string]string{"protected": "false"}
	}
	m := map[string]string{"protected": "true"}
	putChecksAndReviews(m, p.RequiredStatusChecks, p.RequiredPullRequestReviews.settings())
	m["enforce_admins"] = strconv.FormatBool(isOn(p.EnforceAdmins))
	m["required_linear_history"] = strconv.FormatBool(isOn(p.RequiredLinearHistory))
	m["allow_force_pushes"] = strconv.FormatBool(isOn(p.AllowForcePushes))
	m["allow_deletions"] = strconv.FormatBool(isOn(p.AllowDeletions))
	m["required_signatures"] = strconv.FormatBool(isOn(p.RequiredSignatures))
	return m
}

func isOn(e *enabled) bool { return e != nil && e.Enabled }

func list(s []string) string {
	c := append([]string{}, s...)
	sort.Strings(c)
	return "[" + strings.Join(c, ", ") + "]"
}

// Apply makes GitHub match s: it changes only what Check reports, then
// checks again and fails if GitHub still differs in anything it could
// change. It returns what it changed, and what is left for a person (the
// differences whose Fix says what to do: secrets). It never writes or
// deletes a secret: the values are not smpctl's, and deleting a repository
// secret before each environment has its own would stop the deploys.
func Apply(ctx context.Context, c *Client, owner, name string, s *Settings) (changed, left []Difference, err error) {
	st, err := read(ctx, c, owner, name, s)
	if err != nil {
		return nil, nil, err
	}
	var todo []Difference
	for _, d := range compare(owner, name, s, st) {
		if d.ByHand() {
			left = append(left, d)
		} else {
			todo = append(todo, d)
		}
	}
	if len(todo) == 0 {
		return nil, left, nil
	}
	touched := map[string]bool{}
	signatures := map[string]bool{}
	for _, d := range todo {
		if d.Field == "required_signatures" {
			// A branch protected just now has signatures off: only a
			// protected branch, or a wish to turn them on, needs the call.
			if d.GitHub != "" || d.Want == "true" {
				signatures[d.Where] = true
			}
			continue
		}
		touched[d.Where] = true
	}
	if touched["repository"] {
		if _, err := c.do(ctx, http.MethodPatch, repoPath(owner, name), s.Repository, nil); err != nil {
			return nil, nil, fmt.Errorf("update repository %s/%s: %w", owner, name, err)
		}
	}
	for _, b := range s.Branches {
		where := "branch " + b.Name
		if touched[where] {
			if _, err := c.do(ctx, http.MethodPut, branchPath(owner, name, b.Name), protectionBody(b), nil); err != nil {
				return nil, nil, fmt.Errorf("protect %s/%s branch %s: %w", owner, name, b.Name, err)
			}
		}
		if signatures[where] {
			method := http.MethodDelete
			if b.RequiredSignatures {
				method = http.MethodPost
			}
			if _, err := c.do(ctx, method, branchPath(owner, name, b.Name)+"/required_signatures", nil, nil); err != nil {
				return nil, nil, fmt.Errorf("set required signatures on %s/%s branch %s: %w", owner, name, b.Name, err)
			}
		}
	}
	for i, e := range s.Environments {
		if touched["environment "+e.Name] {
			if err := applyEnvironment(ctx, c, owner, name, e, st.envs[i]); err != nil {
				return nil, nil, fmt.Errorf("set up environment %s of %s/%s: %w", e.Name, owner, name, err)
			}
		}
	}
	after, err := Check(ctx, c, owner, name, s)
	if err != nil {
		return nil, nil, fmt.Errorf("verify after applying: %w", err)
	}
	left = nil
	for _, d := range after {
		if !d.ByHand() {
			return nil, nil, fmt.Errorf("%w: after applying, GitHub still differs: %s", ErrRefused, d)
		}
		left = append(left, d)
	}
	return todo, left, nil
}

// protectionBody is the PUT .../protection request: every field is required
// by the API (null turns a rule off).
func protectionBody(b Branch) map[string]any {
	body := map[string]any{
		"required_status_checks":        nil,
		"enforce_admins":                b.EnforceAdmins,
		"required_pull_request_reviews": nil,
		"restrictions":                  nil,
		"required_linear_history":       b.RequiredLinearHistory,
		"allow_force_pushes":            b.AllowForcePushes,
		"allow_deletions":               b.AllowDeletions,
	}
	if c := b.RequiredStatusChecks; c != nil {
		contexts := c.Contexts
		if contexts == nil {
			contexts = []string{}
		}
		body["required_status_checks"] = map[string]any{"strict": c.Strict, "contexts": contexts}
	}
	if r := b.RequiredPullRequestReviews; r != nil {
		reviews := map[string]any{
			"required_approving_review_count": r.RequiredApprovingReviewCount,
			"require_code_owner_reviews":      r.RequireCodeOwnerReviews,
			"dismiss_stale_reviews":           r.DismissStaleReviews,
		}
		if b := r.Bypass; b != nil {
			// Empty lists clear what GitHub has; a file without the key
			// leaves GitHub's allowances as they are.
			reviews["bypass_pull_request_allowances"] = map[string]any{
				"users": nonNil(b.Users), "teams": nonNil(b.Teams), "apps": nonNil(b.Apps),
			}
		}
		body["required_pull_request_reviews"] = reviews
	}
	return body
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
