package fault_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/smp/delivery/internal/fault"
)

func TestKindIsTheOutermostMark(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	sentinel := fault.Invalidf("bad build input")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"nil has no kind", nil, nil},
		{"a plain error has no kind", base, nil},
		{"a wrapped plain error has no kind", fmt.Errorf("push: %w", fs.ErrNotExist), nil},
		{"Invalid is invalid", fault.Invalid(base), fault.ErrInvalid},
		{"Invalidf is invalid", fault.Invalidf("bad %s", "x"), fault.ErrInvalid},
		{"Refused is refused", fault.Refused(base), fault.ErrRefused},
		{"Refusedf is refused", fault.Refusedf("no %s", "x"), fault.ErrRefused},
		{"a sentinel wrapped with %w keeps its kind", fmt.Errorf("%w: commit %q", sentinel, "x"), fault.ErrInvalid},
		{"a sentinel deep in a join keeps its kind", errors.Join(base, fmt.Errorf("a: %w", sentinel)), fault.ErrInvalid},
		{"an input error is invalid", fault.Inputf("Env", "environment %q is not a name", "../x"), fault.ErrInvalid},
		{"refusing invalid input makes it refused", fault.Refused(fault.Invalid(base)), fault.ErrRefused},
		{"marking a refusal invalid makes it invalid", fault.Invalidf("config: %w", fault.Refused(base)), fault.ErrInvalid},
	}
	for _, tc := range tests {
		if got := fault.Kind(tc.err); got != tc.want { //nolint:errorlint // the kind itself, not a match in a chain
			t.Errorf("%s: Kind = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIsInvalidAndIsRefusedFollowTheOutermostMark(t *testing.T) {
	t.Parallel()
	both := fault.Refused(fault.Invalidf("bad"))
	if fault.IsInvalid(both) || !fault.IsRefused(both) {
		t.Error("a refusal wrapping invalid input must be refused only")
	}
	if fault.IsInvalid(nil) || fault.IsRefused(errors.New("plain")) {
		t.Error("nil and plain errors have no kind")
	}
}

func TestMarksKeepTheMessageAndTheCause(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	for _, err := range []error{fault.Invalid(base), fault.Refused(base), fault.Invalidf("%w", base), fault.Refusedf("%w", base), fault.Inputf("Dir", "%w", base)} {
		if err.Error() != "boom" {
			t.Errorf("%#v: message %q, want boom", err, err.Error())
		}
		if !errors.Is(err, base) {
			t.Errorf("%#v: the cause is not reachable with errors.Is", err)
		}
	}
	if fault.Invalid(nil) != nil || fault.Refused(nil) != nil {
		t.Error("marking nil must stay nil")
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	t.Parallel()
	a, b := fault.Refusedf("push rejected"), fault.Refusedf("push rejected")
	if errors.Is(a, b) {
		t.Error("two sentinels with the same text must not match each other")
	}
	if !errors.Is(fmt.Errorf("push: %w", a), a) || !errors.Is(a, fault.ErrRefused) {
		t.Error("a sentinel must match itself and its kind")
	}
}

func TestInputErrorNamesTheInput(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("deploy: %w", fault.Inputf("SourceCommit", "source commit %q is not 40 hex digits", "HEAD"))
	var ie *fault.InputError
	if !errors.As(err, &ie) || ie.Input != "SourceCommit" {
		t.Fatalf("errors.As found %+v, want the input SourceCommit", ie)
	}
	if !errors.Is(err, fault.ErrInvalid) {
		t.Error("an input error must be invalid input")
	}
}
