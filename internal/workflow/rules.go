package workflow

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/rhysd/actionlint"
)

// Rule names, as Check reports them.
const (
	RulePinnedActions  = "pinned-actions"
	RulePinnedImages   = "pinned-images"
	RulePermissions    = "permissions"
	RuleRunExpressions = "run-expressions"
	RuleSecretScope    = "secret-scope"
)

// OwnOrg is the GitHub organisation whose reusable workflows may be pinned
// to a release tag (vX.Y.Z): its tags are protected by a ruleset, and a
// service upgrading the platform reads better as a version. Everything
// else must be pinned to a full commit SHA, the only immutable reference.
const OwnOrg = "smp"

// Violation is one broken rule.
type Violation struct {
	Path    string
	Line    int
	Rule    string
	Message string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s:%d: [%s] %s", v.Path, v.Line, v.Rule, v.Message)
}

var (
	fullSHA    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	releaseTag = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
	// An image tag naming an exact release: at least major.minor.patch,
	// optionally with a suffix (8.0.40, 7.4.1-alpine, 11.4.4).
	exactImageTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-.+_][A-Za-z0-9._-]+)?$`)
	imageDigest   = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
)

// Check applies the four rules every workflow of ours follows:
//
//   - pinned-actions: `uses:` names a full commit SHA (or, for OwnOrg's
//     reusable workflows, a vX.Y.Z release) — never @master, @main, @latest
//     or a moving major tag such as @v4;
//   - pinned-images: container and service images name an exact version or
//     a digest — never :latest, no tag, or a moving one such as mysql:8.0;
//   - permissions: every job declares its permissions; none is write-all
//     or read-all, and none asks for contents: write (nothing of ours
//     writes to the repository with GITHUB_TOKEN); the workflow-level
//     default, if any, grants nothing;
//   - run-expressions: no ${{ }} inside a run: script — values reach scripts
//     through env:, so a crafted branch name or title cannot inject shell;
//   - secret-scope: a secret (other than the job's own GITHUB_TOKEN) is
//     never in a workflow's or a job's env:, where every step of the job —
//     `go install` of a module, a third-party action — can read it; it goes
//     to the env: or with: of the one step that uses it.
func Check(f *File) []Violation {
	var vs []Violation
	add := func(pos *actionlint.Pos, rule, format string, args ...any) {
		line := 0
		if pos != nil {
			line = pos.Line
		}
		vs = append(vs, Violation{Path: f.Path, Line: line, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	checkEnvSecrets(f.Workflow.Env, "the workflow", add)
	if p := f.Workflow.Permissions; p != nil && (p.All != nil || grantsAnything(p)) {
		add(p.Pos, RulePermissions, "the workflow-level permissions must be {} (grant per job, least privilege)")
	}
	for _, id := range f.JobIDs() {
		job := f.Workflow.Jobs[id]
		checkPermissions(job, add)
		checkEnvSecrets(job.Env, "job "+id, add)
		if job.WorkflowCall != nil && job.WorkflowCall.Uses != nil {
			if msg := checkUses(job.WorkflowCall.Uses.Value); msg != "" {
				add(job.WorkflowCall.Uses.Pos, RulePinnedActions, "job %s: %s", id, msg)
			}
		}
		if job.Container != nil && job.Container.Image != nil {
			if msg := checkImage(job.Container.Image.Value); msg != "" {
				add(job.Container.Image.Pos, RulePinnedImages, "job %s container: %s", id, msg)
			}
		}
		if job.Services != nil {
			names := make([]string, 0, len(job.Services.Value))
			for n := range job.Services.Value {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				s := job.Services.Value[n]
				if s.Container == nil || s.Container.Image == nil {
					continue
				}
				if msg := checkImage(s.Container.Image.Value); msg != "" {
					add(s.Container.Image.Pos, RulePinnedImages, "job %s service %s: %s", id, n, msg)
				}
			}
		}
		for _, st := range job.Steps {
			switch e := st.Exec.(type) {
			case *actionlint.ExecAction:
				if msg := checkUses(e.Uses.Value); msg != "" {
					add(e.Uses.Pos, RulePinnedActions, "job %s: %s", id, msg)
				}
			case *actionlint.ExecRun:
				if e.Run != nil && strings.Contains(e.Run.Value, "${{") {
					add(e.Run.Pos, RuleRunExpressions, "job %s: a run: script interpolates ${{ }}; pass the value through env: and use \"$NAME\"", id)
				}
			}
		}
	}
	return vs
}

// secretRef matches a reference to a secret other than GITHUB_TOKEN.
var secretRef = regexp.MustCompile(`secrets\.(?:[A-Za-z_][A-Za-z0-9_-]*|\[)`)

func checkEnvSecrets(env *actionlint.Env, where string, add func(*actionlint.Pos, string, string, ...any)) {
	if env == nil {
		return
	}
	names := make([]string, 0, len(env.Vars))
	for n := range env.Vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := env.Vars[n]
		if v.Value == nil {
			continue
		}
		for _, m := range secretRef.FindAllString(v.Value.Value, -1) {
			if m != "secrets.GITHUB_TOKEN" {
				add(v.Value.Pos, RuleSecretScope, "%s's env: %s reads a secret, and every step of the job could read it: set it in the env: of the step that needs it", where, v.Name.Value)
				break
			}
		}
	}
}

func grantsAnything(p *actionlint.Permissions) bool {
	for _, s := range p.Scopes {
		if s.Value != nil && s.Value.Value != "none" {
			return true
		}
	}
	return false
}

func checkPermissions(job *actionlint.Job, add func(*actionlint.Pos, string, string, ...any)) {
	id := job.ID.Value
	p := job.Permissions
	if p == nil {
		add(job.Pos, RulePermissions, "job %s declares no permissions: (it would inherit the repository default); list the scopes it needs, or {}", id)
		return
	}
	if p.All != nil {
		add(p.Pos, RulePermissions, "job %s: permissions: %s grants every scope; list the scopes it needs", id, p.All.Value)
	}
	for name, s := range p.Scopes {
		if name == "contents" && s.Value != nil && s.Value.Value == "write" {
			add(p.Pos, RulePermissions, "job %s: contents: write lets GITHUB_TOKEN push to the repository; tags and GitOps commits use dedicated tokens", id)
		}
	}
}

// checkUses returns why a `uses:` is not pinned, or "".
func checkUses(uses string) string {
	switch {
	case strings.HasPrefix(uses, "./"):
		return "" // this repository, at the same commit
	case strings.HasPrefix(uses, "docker://"):
		return checkImage(strings.TrimPrefix(uses, "docker://"))
	}
	name, ref, ok := strings.Cut(uses, "@")
	if !ok || ref == "" {
		return fmt.Sprintf("%s is not pinned; add @<full commit SHA>", uses)
	}
	if fullSHA.MatchString(ref) {
		return ""
	}
	if strings.HasPrefix(name, OwnOrg+"/") && releaseTag.MatchString(ref) {
		return ""
	}
	return fmt.Sprintf("%s is pinned to %q, which can move; pin a full 40-character commit SHA (and note the release in a comment)", uses, ref)
}

// checkImage returns why an image reference is not pinned, or "".
func checkImage(image string) string {
	if strings.Contains(image, "${{") {
		return fmt.Sprintf("image %q is computed; name it literally so it can be checked", image)
	}
	if imageDigest.MatchString(image) {
		return ""
	}
	last := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case !ok || tag == "":
		return fmt.Sprintf("image %q has no tag, which means :latest; pin an exact version (e.g. mysql:8.0.40) or a digest", image)
	case tag == "latest":
		return fmt.Sprintf("image %q uses :latest; pin an exact version or a digest", image)
	case !exactImageTag.MatchString(tag):
		return fmt.Sprintf("image %q uses the moving tag %q; pin an exact major.minor.patch version or a digest", image, tag)
	}
	return ""
}
