package policy_test

import (
	"regexp"
	"testing"
)

func matchRegexp(t *testing.T, expr, s string) bool {
	t.Helper()
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Fatalf("subjectRegExp %q: %v", expr, err)
	}
	return re.MatchString(s)
}
