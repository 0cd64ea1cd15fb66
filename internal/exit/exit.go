// Package exit decides smpctl's exit codes in one place.
//
// The contract (docs/design.md §5): 0 done, including "nothing to do"; 1 a check,
// a gate or a remote refused; 2 bad input or usage, with nothing written.
// Packages return errors wrapped with Usage or Failed; anything else is
// treated as a failure (1).
package exit

import (
	"errors"
	"fmt"
)

// Exit codes.
const (
	OK     = 0
	Fail   = 1
	Usage  = 2
	Signal = 130
)

// Error carries an exit code with an error.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// UsageError marks err as bad input (exit 2).
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: Usage, Err: err}
}

// Usagef formats a bad-input error (exit 2).
func Usagef(format string, args ...any) error {
	return &Error{Code: Usage, Err: fmt.Errorf(format, args...)}
}

// FailedError marks err as a failed check or refused remote (exit 1).
func FailedError(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: Fail, Err: err}
}

// Failedf formats a failed-check error (exit 1).
func Failedf(format string, args ...any) error {
	return &Error{Code: Fail, Err: fmt.Errorf(format, args...)}
}

// Code returns the exit code for err: 0 for nil, the code of the outermost
// *Error in the chain, else 1.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Fail
}
