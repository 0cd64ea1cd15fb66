// Package workflow reads the repository's GitHub Actions workflows with
// actionlint's parser (github.com/rhysd/actionlint) and answers, without
// GitHub, the questions the delivery pipeline depends on:
//
//   - does a push of this ref, or a pull request to this branch, trigger the
//     workflow (branch and tag filters, with GitHub's glob syntax);
//   - which jobs run for a ref: each job's `if:` is evaluated over
//     actionlint's expression AST by a small evaluator (Eval), with the
//     outputs of the jobs it needs, following reusable workflow calls
//     (`uses: owner/repo/.github/workflows/x.yml@v` resolves to a local file).
//
// The mapping contract test uses it to prove that the CD workflow runs
// exactly the jobs `smpctl plan` names for every ref of plan.Table, and the
// hygiene tests use it to check the rules every workflow follows (pinned
// actions and images, least-privilege permissions, no ${{ }} in run:).
package workflow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/rhysd/actionlint"
)

// ErrParse is wrapped when a workflow file does not parse.
var ErrParse = errors.New("invalid workflow")

// File is one parsed workflow.
type File struct {
	Path     string
	Workflow *actionlint.Workflow
}

// Load reads and parses a workflow file.
func Load(path string) (*File, error) {
	src, err := os.ReadFile(path) //nolint:gosec // reading the workflow the caller names is the point
	if err != nil {
		return nil, fmt.Errorf("read workflow: %w", err)
	}
	return Parse(path, src)
}

// Parse parses a workflow's source; every syntax error actionlint reports
// is returned, each with its line and column.
func Parse(path string, src []byte) (*File, error) {
	wf, errs := actionlint.Parse(src)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = fmt.Sprintf("%s:%d:%d: %s", path, e.Line, e.Column, e.Message)
		}
		return nil, fmt.Errorf("%w: %s", ErrParse, strings.Join(msgs, "; "))
	}
	if wf == nil {
		return nil, fmt.Errorf("%w: %s: empty workflow", ErrParse, path)
	}
	return &File{Path: path, Workflow: wf}, nil
}

// LoadDir parses every *.yml and *.yaml file of dir, sorted by name.
func LoadDir(dir string) ([]*File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read workflows: %w", err)
	}
	var files []*File
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yml" && ext != ".yaml") {
			continue
		}
		f, err := Load(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// JobIDs returns the workflow's job IDs in a stable order.
func (f *File) JobIDs() []string {
	ids := make([]string, 0, len(f.Workflow.Jobs))
	for id := range f.Workflow.Jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (f *File) event(name string) *actionlint.WebhookEvent {
	for _, e := range f.Workflow.On {
		if w, ok := e.(*actionlint.WebhookEvent); ok && w.Hook != nil && w.Hook.Value == name {
			return w
		}
	}
	return nil
}

// IsReusable reports whether the workflow can be called (on: workflow_call).
func (f *File) IsReusable() bool { return f.WorkflowCall() != nil }

// WorkflowCall returns the workflow_call trigger, or nil.
func (f *File) WorkflowCall() *actionlint.WorkflowCallEvent {
	for _, e := range f.Workflow.On {
		if c, ok := e.(*actionlint.WorkflowCallEvent); ok {
			return c
		}
	}
	return nil
}

// TriggeredByPush reports whether pushing ref (refs/heads/X or refs/tags/X)
// triggers the workflow, applying the push event's branch and tag filters
// the way GitHub does: with only branch filters a tag push does not
// trigger, with only tag filters a branch push does not, with neither both do.
func (f *File) TriggeredByPush(ref string) (bool, error) {
	ev := f.event("push")
	if ev == nil {
		return false, nil
	}
	hasBranch := ev.Branches != nil || ev.BranchesIgnore != nil
	hasTag := ev.Tags != nil || ev.TagsIgnore != nil
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		name := strings.TrimPrefix(ref, "refs/heads/")
		if !hasBranch {
			return !hasTag, nil
		}
		return filterAllows(ev.Branches, ev.BranchesIgnore, name)
	case strings.HasPrefix(ref, "refs/tags/"):
		name := strings.TrimPrefix(ref, "refs/tags/")
		if !hasTag {
			return !hasBranch, nil
		}
		return filterAllows(ev.Tags, ev.TagsIgnore, name)
	}
	return false, fmt.Errorf("push of %q: only refs/heads/ and refs/tags/ refs are pushed", ref)
}

// TriggeredByPullRequest reports whether a pull request into base triggers
// the workflow (the pull_request event's branch filters match the base).
func (f *File) TriggeredByPullRequest(base string) (bool, error) {
	ev := f.event("pull_request")
	if ev == nil {
		return false, nil
	}
	return filterAllows(ev.Branches, ev.BranchesIgnore, base)
}

func filterAllows(include, ignore *actionlint.WebhookEventFilter, name string) (bool, error) {
	if include != nil {
		return MatchFilters(values(include), name)
	}
	if ignore != nil {
		m, err := MatchFilters(values(ignore), name)
		return !m, err
	}
	return true, nil
}

func values(f *actionlint.WebhookEventFilter) []string {
	out := make([]string, len(f.Values))
	for i, v := range f.Values {
		out[i] = v.Value
	}
	return out
}

// MatchFilters applies GitHub's filter patterns in order: a pattern
// includes the names it matches, a pattern starting with '!' excludes them
// again, and the last matching pattern wins.
func MatchFilters(patterns []string, name string) (bool, error) {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		re, err := FilterRegexp(strings.TrimPrefix(p, "!"))
		if err != nil {
			return false, err
		}
		if re.MatchString(name) {
			matched = !neg
		}
	}
	return matched, nil
}

// FilterRegexp compiles one GitHub filter pattern: '*' matches any run of
// characters except '/', '**' any run at all, '?' makes the preceding
// character optional, '+' repeats it, and [...] is a character class.
func FilterRegexp(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, fmt.Errorf("empty filter pattern")
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?', '+':
			if i == 0 {
				return nil, fmt.Errorf("filter pattern %q: %q must follow a character", pattern, c)
			}
			b.WriteByte(c)
		case '[':
			end := strings.IndexByte(pattern[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("filter pattern %q: unclosed [", pattern)
			}
			class := pattern[i+1 : i+end]
			if class == "" {
				return nil, fmt.Errorf("filter pattern %q: empty []", pattern)
			}
			b.WriteByte('[')
			for _, r := range class {
				if r == '\\' || r == ']' || r == '[' || r == '^' {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
			b.WriteByte(']')
			i += end
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("filter pattern %q: %w", pattern, err)
	}
	return re, nil
}
