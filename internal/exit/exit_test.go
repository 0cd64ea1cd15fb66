package exit

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodeFollowsTheContract(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil is success", nil, OK},
		{"a plain error is a failure", base, Fail},
		{"usage is 2", UsageError(base), Usage},
		{"usagef is 2", Usagef("bad %s", "x"), Usage},
		{"failed is 1", FailedError(base), Fail},
		{"a wrapped usage error stays 2", fmt.Errorf("deploy: %w", Usagef("bad")), Usage},
	}
	for _, tc := range tests {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("%s: Code = %d, want %d", tc.name, got, tc.want)
		}
	}
	if UsageError(nil) != nil || FailedError(nil) != nil {
		t.Error("wrapping nil must stay nil")
	}
	if !errors.Is(Failedf("x: %w", base), base) {
		t.Error("Failedf must wrap with %w")
	}
}
