// Package fault holds the two kinds of error smpctl's exit codes are decided
// from, so every package can say which kind its errors are without knowing
// about the command line.
//
//   - ErrInvalid: the input is wrong (a name, a path, a version, a file the
//     user gave). Nothing was written; the user fixes the input and runs the
//     command again. The CLI exits 2.
//   - ErrRefused: the input was fine, but a check, a gate or a remote said no
//     (a policy finding, a failed smoke test, a rejected push). The CLI
//     exits 1.
//
// A package's sentinel errors wrap one of the two, so errors.Is(err,
// fault.ErrInvalid) holds for every bad-input error however deep it is
// wrapped:
//
//	var ErrTagTaken = fault.Refusedf("tag already points to another digest")
//
// An error that wraps neither kind is a failure of smpctl or its environment
// (a full disk, a crashed child); the CLI exits 1 for it too.
//
// Packages describe their own inputs — an Options field, an argument — and
// never the command-line flags that fill them: InputError names the input
// ("Env"), and the CLI, which knows which flag sets Options.Env, names the
// flag.
package fault

import (
	"errors"
	"fmt"
)

// The two kinds. Compare with errors.Is; use Kind to tell which one decides
// an error that wraps both.
var (
	// ErrInvalid is invalid input: nothing was written (exit 2).
	ErrInvalid = errors.New("invalid input")
	// ErrRefused is a check, a gate or a remote that refused (exit 1).
	ErrRefused = errors.New("refused")
)

// kindError marks err as one kind without changing its message.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }

// Unwrap lists the kind first, so a depth-first search (errors.Is, Kind)
// meets the outermost mark before any mark wrapped inside err.
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// Invalid marks err as invalid input. Invalid(nil) is nil.
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: ErrInvalid, err: err}
}

// Invalidf formats an invalid-input error; %w wraps as in fmt.Errorf.
// With a constant format and no arguments it makes a sentinel.
func Invalidf(format string, args ...any) error {
	return &kindError{kind: ErrInvalid, err: fmt.Errorf(format, args...)}
}

// Refused marks err as refused by a check, a gate or a remote.
// Refused(nil) is nil.
func Refused(err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: ErrRefused, err: err}
}

// Refusedf formats a refused error; %w wraps as in fmt.Errorf. With a
// constant format and no arguments it makes a sentinel.
func Refusedf(format string, args ...any) error {
	return &kindError{kind: ErrRefused, err: fmt.Errorf(format, args...)}
}

// Kind returns ErrInvalid or ErrRefused, whichever err's outermost mark
// is, or nil when err carries neither. The search is depth-first in the
// order errors.Is uses, so fault.Refused(err) is refused even when err
// itself is invalid input.
func Kind(err error) error {
	for err != nil {
		if err == ErrInvalid || err == ErrRefused { //nolint:errorlint // Kind walks the chain itself, outermost first
			return err
		}
		switch u := err.(type) { //nolint:errorlint // one step of the walk, not a search
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if k := Kind(e); k != nil {
					return k
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}

// IsInvalid reports whether err's kind is invalid input (exit 2).
func IsInvalid(err error) bool { return errors.Is(Kind(err), ErrInvalid) }

// IsRefused reports whether err's kind is a refusal (exit 1).
func IsRefused(err error) bool { return errors.Is(Kind(err), ErrRefused) }

// InputError is invalid input that names which input was wrong: an Options
// field or an argument, in the package's own terms. Its message says what
// was wrong with the value and how to fix it; the CLI adds the flag that set
// the input.
type InputError struct {
	// Input is the name of the input as the package's API spells it, e.g.
	// "Env" for Options.Env, "SourceCommit", or "service" for an argument.
	Input string
	// Err says what is wrong with the value and how to fix it.
	Err error
}

func (e *InputError) Error() string { return e.Err.Error() }

// Unwrap makes an InputError invalid input and keeps its cause reachable.
func (e *InputError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Inputf formats an InputError about input; %w wraps as in fmt.Errorf.
func Inputf(input, format string, args ...any) error {
	return &InputError{Input: input, Err: fmt.Errorf(format, args...)}
}
