package workflow

import (
	"errors"
	"testing"
)

func TestEvalFollowsGitHubsExpressionSemantics(t *testing.T) {
	t.Parallel()
	ctx := Scope{Contexts: map[string]any{
		"github": map[string]any{"ref": "refs/tags/v3.3.0-rc.1", "event_name": "push"},
		"needs": map[string]any{"plan": map[string]any{
			"result":  "success",
			"outputs": map[string]any{"environment": "staging", "build": "false", "version": "3.3.0-rc.1"},
		}},
		"inputs": map[string]any{"critical": true, "n": float64(3)},
		"list":   []any{"a", "B", float64(1)},
		"objs":   []any{map[string]any{"name": "x"}, map[string]any{"name": "y"}},
	}}
	tests := []struct {
		expr string
		want any
	}{
		{"needs.plan.outputs.environment == 'staging'", true},
		{"needs.plan.outputs.environment == 'STAGING'", true}, // strings compare ignoring case
		{"needs.plan.outputs.build == 'true'", false},
		{"needs.plan.outputs.environment != '' && needs.plan.outputs.build != 'true'", true},
		{"needs.plan.outputs.missing", nil},
		{"needs.plan.outputs.missing == ''", true}, // null == '' (both 0 as numbers)
		{"NEEDS.Plan.Outputs.Version", "3.3.0-rc.1"},
		{"startsWith(github.ref, 'refs/tags/v')", true},
		{"contains(github.ref, '-RC.')", true},
		{"endsWith(github.ref, 'rc.1')", true},
		{"contains(list, 'b')", true},
		{"contains(list, 1)", true},
		{"contains(list, 'c')", false},
		{"inputs.critical && 'preview' || 'active'", "preview"},
		{"!inputs.critical", false},
		{"inputs.n > 2", true},
		{"inputs.n >= '3'", true},
		{"'abc' < 'abd'", true},
		{"1 == '1'", true},
		{"true == 1", true},
		{"'x' == 0", false},
		{"null == false", true},
		{"format('{0}-{1}-{{x}}', 'a', 2)", "a-2-{x}"},
		{"join(list, '+')", "a+B+1"},
		{"objs.*.name", filtered{"x", "y"}},
		{"contains(objs.*.name, 'y')", true},
		{"fromJSON('{\"a\":[1,2]}').a[1]", float64(2)},
		{"github['event_name']", "push"},
		{"list[5]", nil},
		{"always()", true},
		{"success()", true},
		{"failure()", false},
	}
	for _, tc := range tests {
		got, err := Eval("${{ "+tc.expr+" }}", ctx)
		if err != nil {
			t.Errorf("Eval(%s): %v", tc.expr, err)
			continue
		}
		if !equalValue(got, tc.want) {
			t.Errorf("Eval(%s) = %#v, want %#v", tc.expr, got, tc.want)
		}
	}
}

func equalValue(a, b any) bool {
	af, aok := a.(filtered)
	bf, bok := b.(filtered)
	if aok || bok {
		if !aok || !bok || len(af) != len(bf) {
			return false
		}
		for i := range af {
			if af[i] != bf[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestEvalInterpolatesTextWithPlaceholders(t *testing.T) {
	t.Parallel()
	s := Scope{Contexts: map[string]any{"github": map[string]any{"run_id": float64(42), "repository": "smp/order-svc"}}}
	got, err := Eval("https://github.com/${{ github.repository }}/actions/runs/${{ github.run_id }}", s)
	if err != nil || got != "https://github.com/smp/order-svc/actions/runs/42" {
		t.Fatalf("Eval = %q, %v", got, err)
	}
	got, err = Eval("${{ '}}' }}x", s) // a '}}' inside a string literal does not end the placeholder
	if err != nil || got != "}}x" {
		t.Fatalf("Eval = %q, %v", got, err)
	}
	got, err = Eval("plain", s)
	if err != nil || got != "plain" {
		t.Fatalf("Eval = %q, %v", got, err)
	}
}

func TestConditionsAddAnImplicitSuccess(t *testing.T) {
	t.Parallel()
	failedNeed := Scope{Status: Status{Failed: true, NeedNotSucceeded: true}}
	skippedNeed := Scope{Status: Status{NeedNotSucceeded: true}}
	tests := []struct {
		name  string
		cond  string
		scope Scope
		want  bool
	}{
		{"no condition runs when the needs succeeded", "", Scope{}, true},
		{"no condition skips when a need failed", "", failedNeed, false},
		{"a true condition still skips when a need was skipped", "true", skippedNeed, false},
		{"always() runs after a failure", "always()", failedNeed, true},
		{"failure() runs after a failure", "${{ failure() }}", failedNeed, true},
		{"failure() does not run after success", "failure()", Scope{}, false},
		{"a wrapped false condition skips", "${{ false }}", Scope{}, false},
	}
	for _, tc := range tests {
		got, err := EvalCondition(tc.cond, tc.scope)
		if err != nil || got != tc.want {
			t.Errorf("%s: EvalCondition(%q) = %v, %v; want %v", tc.name, tc.cond, got, err, tc.want)
		}
	}
}

func TestBadExpressionsAreErrors(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		"${{ github.ref == }}",
		"${{ unknownFunc(1) }}",
		"${{ contains('a') }}",
		"${{ format('{1}', 'a') }}",
		"${{ fromJSON('{') }}",
		"${{ github.ref",
		"${{ hashFiles('**/go.sum') }}",
	} {
		if _, err := Eval(expr, Scope{}); !errors.Is(err, ErrExpr) {
			t.Errorf("Eval(%q) error = %v, want ErrExpr", expr, err)
		}
	}
}

func TestFiltersUseGitHubGlobs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		name     string
		want     bool
	}{
		{[]string{"v*.*.*"}, "v1.2.3", true},
		{[]string{"v*.*.*"}, "v3.3.0-rc.1", true},
		{[]string{"v*.*.*"}, "v1.2", false},
		{[]string{"v*.*.*"}, "order-svc/v1.2.3", false},
		{[]string{"v*.*.*"}, "v1/2.3.4", false}, // '*' stops at '/'
		{[]string{"v**"}, "v1/2", true},
		{[]string{"main"}, "main", true},
		{[]string{"main"}, "mainline", false},
		{[]string{"feat/*"}, "feat/x", true},
		{[]string{"feat/*"}, "feat/x/y", false},
		{[]string{"feat/**"}, "feat/x/y", true},
		{[]string{"v[12].*"}, "v2.0", true},
		{[]string{"v[12].*"}, "v3.0", false},
		{[]string{"colou?r"}, "color", true},
		{[]string{"ab+c"}, "abbbc", true},
		{[]string{"**", "!release/**"}, "release/3.3", false},
		{[]string{"**", "!release/**", "release/keep"}, "release/keep", true},
		{[]string{"a.b"}, "axb", false}, // '.' is literal
	}
	for _, tc := range tests {
		got, err := MatchFilters(tc.patterns, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("MatchFilters(%q, %q) = %v, %v; want %v", tc.patterns, tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "?x", "v[1", "v[]"} {
		if _, err := FilterRegexp(bad); err == nil {
			t.Errorf("FilterRegexp(%q) accepted a malformed pattern", bad)
		}
	}
}

func FuzzEval(f *testing.F) {
	for _, s := range []string{"${{ a.b == 'c' }}", "x ${{ format('{0}', 1) }}", "${{ contains(x.*.y, 1) }}", "${{ '}}' }}"} {
		f.Add(s)
	}
	s := Scope{Contexts: map[string]any{"a": map[string]any{"b": "c"}, "x": []any{map[string]any{"y": float64(1)}}}}
	f.Fuzz(func(t *testing.T, src string) {
		v, err := Eval(src, s)
		if err != nil && !errors.Is(err, ErrExpr) {
			t.Fatalf("Eval(%q): unclassified error %v", src, err)
		}
		_ = ToString(v)
	})
}

func FuzzFilterRegexp(f *testing.F) {
	for _, s := range []string{"v*.*.*", "feat/**", "v[12].*", "colou?r", "!x"} {
		f.Add(s, "v1.2.3")
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		re, err := FilterRegexp(pattern)
		if err != nil {
			return
		}
		_ = re.MatchString(name)
	})
}
