package protect

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// The deployment branch policies, as differences name them.
const (
	policyAll       = "all branches and tags"
	policyProtected = "protected branches"
	policyCustom    = "branch and tag patterns"
)

// environmentState is what GitHub has for one environment of the settings.
type environmentState struct {
	exists            bool
	waitTimer         int
	preventSelfReview bool
	// users and teams map the lower-case login or slug to the id the
	// API takes, so Apply resolves only reviewers GitHub does not have.
	users, teams map[string]int64
	policy       string
	branches     []string
	tags         []string
	// secrets are the upper-case names of the environment's secrets; read
	// only when the settings name some.
	secrets map[string]bool
}

// readEnvironment reads env's rules and, if the settings name secrets,
// its secrets' names.
func readEnvironment(ctx context.Context, c *Client, owner, name string, env Environment) (environmentState, error) {
	st := environmentState{users: map[string]int64{}, teams: map[string]int64{}, secrets: map[string]bool{}}
	e, err := c.getEnvironment(ctx, owner, name, env.Name)
	if err != nil || e == nil {
		return st, err
	}
	st.exists = true
	for _, r := range e.ProtectionRules {
		switch r.Type {
		case "wait_timer":
			st.waitTimer = r.WaitTimer
		case "required_reviewers":
			st.preventSelfReview = r.PreventSelfReview
			for _, rv := range r.Reviewers {
				switch rv.Type {
				case "User":
					st.users[strings.ToLower(rv.Reviewer.Login)] = rv.Reviewer.ID
				case "Team":
					st.teams[strings.ToLower(rv.Reviewer.Slug)] = rv.Reviewer.ID
				}
			}
		}
	}
	st.policy = policyAll
	if p := e.DeploymentBranchPolicy; p != nil {
		switch {
		case p.ProtectedBranches:
			st.policy = policyProtected
		case p.CustomBranchPolicies:
			st.policy = policyCustom
			policies, err := c.branchPolicies(ctx, owner, name, env.Name)
			if err != nil {
				return st, fmt.Errorf("read the deployment branch policies: %w", err)
			}
			for _, p := range policies {
				if p.kind() == "tag" {
					st.tags = append(st.tags, p.Name)
				} else {
					st.branches = append(st.branches, p.Name)
				}
			}
		}
	}
	if len(env.Secrets) > 0 {
		if st.secrets, err = secretNames(ctx, c, environmentPath(owner, name, env.Name)+"/secrets"); err != nil {
			return st, fmt.Errorf("read the secrets' names: %w", err)
		}
	}
	return st, nil
}

func policyOf(p *DeploymentBranchPolicy) string {
	switch {
	case p == nil:
		return policyAll
	case p.ProtectedBranches:
		return policyProtected
	default:
		return policyCustom
	}
}

func lower(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToLower(v)
	}
	return out
}

func keys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func wantEnvironment(e Environment) map[string]string {
	m := map[string]string{
		"exists":                   "true",
		"wait_timer":               strconv.Itoa(e.WaitTimer),
		"reviewers.users":          list(lower(e.Reviewers.Users)),
		"reviewers.teams":          list(e.Reviewers.Teams),
		"prevent_self_review":      strconv.FormatBool(e.PreventSelfReview),
		"deployment_branch_policy": policyOf(e.DeploymentBranchPolicy),
	}
	if p := e.DeploymentBranchPolicy; p.custom() {
		m["deployment_branch_policy.branches"] = list(p.Branches)
		m["deployment_branch_policy.tags"] = list(p.Tags)
	}
	return m
}

func haveEnvironment(st environmentState) map[string]string {
	if !st.exists {
		// Say so once; every rule reads as absent.
		return map[string]string{"exists": "false"}
	}
	return map[string]string{
		"exists":                            "true",
		"wait_timer":                        strconv.Itoa(st.waitTimer),
		"reviewers.users":                   list(keys(st.users)),
		"reviewers.teams":                   list(keys(st.teams)),
		"prevent_self_review":               strconv.FormatBool(st.preventSelfReview),
		"deployment_branch_policy":          st.policy,
		"deployment_branch_policy.branches": list(st.branches),
		"deployment_branch_policy.tags":     list(st.tags),
	}
}

// secretDifferences are the differences only a person can fix: secret
// values smpctl never holds, and secrets every job can read.
func secretDifferences(owner, name string, s *Settings, st *state) []Difference {
	repo := owner + "/" + name
	var diffs []Difference
	inEnvs := map[string][]string{} // upper-case name → the environments that declare it
	var names []string
	for i, e := range s.Environments {
		for _, n := range e.Secrets {
			up := strings.ToUpper(n)
			if inEnvs[up] == nil {
				names = append(names, up)
			}
			inEnvs[up] = append(inEnvs[up], e.Name)
			es := st.envs[i]
			if es.secrets[up] {
				continue
			}
			have := "no such secret"
			if !es.exists {
				have = ""
			}
			diffs = append(diffs, Difference{
				Where: "environment " + e.Name, Field: "secret " + up, GitHub: have, Want: "an environment secret",
				Fix: fmt.Sprintf("set it, a token for %s alone (smpctl never writes secret values): gh secret set %s --env %s --repo %s",
					e.Name, up, e.Name, repo),
			})
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if st.repoSecrets[n] {
			diffs = append(diffs, Difference{
				Where: "repository", Field: "secret " + n, GitHub: "a repository secret",
				Want: "only environment secrets (" + strings.Join(inEnvs[n], ", ") + ")",
				Fix: fmt.Sprintf("delete the repository secret %s: every job, a branch's too, can read it, and a job in an environment without its own %s gets it; once each environment has its own: gh secret delete %s --repo %s",
					n, n, n, repo),
			})
		}
	}
	for _, n := range names {
		if st.orgSecrets[n] {
			diffs = append(diffs, Difference{
				Where: "organization " + owner, Field: "secret " + n, GitHub: "an organization secret shared with " + repo,
				Want: "only environment secrets (" + strings.Join(inEnvs[n], ", ") + ")",
				Fix: fmt.Sprintf("every job of %s, a branch's too, can read the organization secret %s: take %s out of its repositories in the organization's settings, or delete it (gh secret delete %s --org %s)",
					repo, n, repo, n, owner),
			})
		}
	}
	return diffs
}

// applyEnvironment creates or updates env (its reviewers, wait timer and
// branch policy; never its secrets), resolving the ids of reviewers GitHub
// does not list yet.
func applyEnvironment(ctx context.Context, c *Client, owner, name string, env Environment, have environmentState) error {
	reviewers := []map[string]any{}
	for _, u := range env.Reviewers.Users {
		id, ok := have.users[strings.ToLower(u)]
		if !ok {
			var err error
			if id, err = c.userID(ctx, u); err != nil {
				return fmt.Errorf("reviewer %s: look up the GitHub user (fix reviewers.users if it is misspelt): %w", u, err)
			}
		}
		reviewers = append(reviewers, map[string]any{"type": "User", "id": id})
	}
	for _, t := range env.Reviewers.Teams {
		id, ok := have.teams[strings.ToLower(t)]
		if !ok {
			var err error
			if id, err = c.teamID(ctx, owner, t); err != nil {
				return fmt.Errorf("reviewer team %s: look up the team of %s (fix reviewers.teams if it is misspelt): %w", t, owner, err)
			}
		}
		reviewers = append(reviewers, map[string]any{"type": "Team", "id": id})
	}
	body := map[string]any{
		"wait_timer":               env.WaitTimer,
		"prevent_self_review":      env.PreventSelfReview,
		"reviewers":                reviewers,
		"deployment_branch_policy": nil, // every branch and tag
	}
	if p := env.DeploymentBranchPolicy; p != nil {
		body["deployment_branch_policy"] = map[string]bool{
			"protected_branches":     p.ProtectedBranches,
			"custom_branch_policies": !p.ProtectedBranches,
		}
	}
	path := environmentPath(owner, name, env.Name)
	if _, err := c.do(ctx, http.MethodPut, path, body, nil); err != nil {
		return err
	}
	if !env.DeploymentBranchPolicy.custom() {
		return nil
	}
	// Read again: the PUT may have switched the environment to custom
	// policies, and GitHub keeps the patterns an earlier switch left.
	existing, err := c.branchPolicies(ctx, owner, name, env.Name)
	if err != nil {
		return fmt.Errorf("read the deployment branch policies: %w", err)
	}
	want := map[string]bool{}
	for _, b := range env.DeploymentBranchPolicy.Branches {
		want["branch "+b] = true
	}
	for _, t := range env.DeploymentBranchPolicy.Tags {
		want["tag "+t] = true
	}
	// Narrow first: a pattern the settings drop stops matching before
	// any new one starts.
	for _, p := range existing {
		if key := p.kind() + " " + p.Name; want[key] {
			delete(want, key)
			continue
		}
		if _, err := c.do(ctx, http.MethodDelete, fmt.Sprintf("%s/deployment-branch-policies/%d", path, p.ID), nil, nil); err != nil {
			return fmt.Errorf("delete the %s pattern %q: %w", p.kind(), p.Name, err)
		}
	}
	for _, k := range []struct {
		kind     string
		patterns []string
	}{{"branch", env.DeploymentBranchPolicy.Branches}, {"tag", env.DeploymentBranchPolicy.Tags}} {
		for _, pat := range k.patterns {
			if !want[k.kind+" "+pat] {
				continue
			}
			if _, err := c.do(ctx, http.MethodPost, path+"/deployment-branch-policies", map[string]string{"name": pat, "type": k.kind}, nil); err != nil {
				return fmt.Errorf("add the %s pattern %q: %w", k.kind, pat, err)
			}
		}
	}
	return nil
}
