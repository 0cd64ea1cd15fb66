// Package notmain is a library: smpctl build must refuse it.
package notmain

// Answer is here so the package is not empty.
const Answer = 42
