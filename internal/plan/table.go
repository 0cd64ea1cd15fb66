package plan

import "github.com/smp/delivery/internal/gitops/delivery"

// Case is one row of the branch and deploy mapping under the default
// (seed) configuration. Tests here and the workflow mapping contract use it.
type Case struct {
	Ref        string
	Kind       Kind
	CI         bool
	Build      bool
	Env        string
	Version    string
	Approval   delivery.Approval
	InvalidRef bool // exit 2: not a ref
	InvalidTag bool // exit 2: matches v*.*.* but is not vX.Y.Z(-rc.N)
}

const (
	none = delivery.ApprovalNone
	appr = delivery.ApprovalRequired
	rm   = delivery.ApprovalReleaseManager
)

// Table is docs/design.md §4 as data: at least 40 refs including every case the
// issue names.
var Table = []Case{
	// push to main → dev
	{Ref: "refs/heads/main", Kind: Branch, CI: true, Build: true, Env: "dev", Approval: none},
	{Ref: "main", Kind: Branch, CI: true, Build: true, Env: "dev", Approval: none},
	// other branches: nothing (their PR runs CI)
	{Ref: "refs/heads/feat/login", Kind: Branch, Approval: none},
	{Ref: "refs/heads/fix/crash-on-empty-cart", Kind: Branch, Approval: none},
	{Ref: "feat/x", Kind: Branch, Approval: none},
	{Ref: "refs/heads/release/3.3", Kind: Branch, Approval: none},
	{Ref: "refs/heads/master", Kind: Branch, Approval: none},
	{Ref: "refs/heads/mainline", Kind: Branch, Approval: none},
	{Ref: "refs/heads/v1.2.3", Kind: Branch, Approval: none},
	{Ref: "refs/heads/Main", Kind: Branch, Approval: none},
	{Ref: "refs/heads/feat/ünïcode", Kind: Branch, Approval: none},
	// pull requests: CI only
	{Ref: "refs/pull/42/merge", Kind: PullRequest, CI: true, Approval: none},
	{Ref: "refs/pull/7/head", Kind: PullRequest, CI: true, Approval: none},
	{Ref: "pull/1", Kind: PullRequest, CI: true, Approval: none},
	// rc tags → staging
	{Ref: "refs/tags/v3.3.0-rc.1", Kind: Tag, Env: "staging", Version: "3.3.0-rc.1", Approval: appr},
	{Ref: "refs/tags/v3.3.0-rc.2", Kind: Tag, Env: "staging", Version: "3.3.0-rc.2", Approval: appr},
	{Ref: "v0.1.0-rc.10", Kind: Tag, Env: "staging", Version: "0.1.0-rc.10", Approval: appr},
	{Ref: "refs/tags/v10.20.30-rc.1", Kind: Tag, Env: "staging", Version: "10.20.30-rc.1", Approval: appr},
	// release tags → prod
	{Ref: "refs/tags/v3.3.0", Kind: Tag, Env: "prod", Version: "3.3.0", Approval: rm},
	{Ref: "v1.2.3", Kind: Tag, Env: "prod", Version: "1.2.3", Approval: rm},
	{Ref: "refs/tags/v0.0.0", Kind: Tag, Env: "prod", Version: "0.0.0", Approval: rm},
	{Ref: "refs/tags/v1.0.0", Kind: Tag, Env: "prod", Version: "1.0.0", Approval: rm},
	{Ref: "refs/tags/v2026.11.25", Kind: Tag, Env: "prod", Version: "2026.11.25", Approval: rm},
	// match v*.*.* but invalid: exit 2, nothing deploys
	{Ref: "refs/tags/v3.3.0-rollback", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3-beta.1", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v01.2.3", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3-rc", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3-RC.1", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3-rc.01", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3-rc.0", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3-rc.1.1", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3+build.5", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.02.3", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3.4", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/va.b.c", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3-", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "refs/tags/v1.2.3-rc.1-hotfix", Kind: Tag, InvalidTag: true, Approval: none},
	{Ref: "v3.3.0-rollback", Kind: Tag, InvalidTag: true, Approval: none},
	// tags outside the trigger glob: nothing, exit 0
	{Ref: "refs/tags/v1.2", Kind: Tag, Approval: none},
	{Ref: "refs/tags/1.2.3", Kind: Tag, Approval: none},
	{Ref: "refs/tags/release-3.3.0", Kind: Tag, Approval: none},
	{Ref: "refs/tags/V1.2.3", Kind: Tag, Approval: none},
	{Ref: "refs/tags/order-svc/v1.2.3", Kind: Tag, Approval: none},
	// not refs at all: exit 2
	{Ref: "", InvalidRef: true},
	{Ref: "feat/a b", InvalidRef: true},
	{Ref: "main\nrefs/heads/evil", InvalidRef: true},
	{Ref: "main\x00", InvalidRef: true},
	{Ref: "refs/heads/../main", InvalidRef: true},
	{Ref: "refs/heads/feat..x", InvalidRef: true},
	{Ref: "refs/heads/a:b", InvalidRef: true},
	{Ref: "refs/heads/", InvalidRef: true},
	{Ref: "refs/remotes/origin/main", InvalidRef: true},
	{Ref: "refs/pull/abc/merge", InvalidRef: true},
	{Ref: "refs/heads/x.lock", InvalidRef: true},
	{Ref: "refs/heads/\xff", InvalidRef: true},
}
