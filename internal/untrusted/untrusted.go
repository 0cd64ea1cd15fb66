// Package untrusted prints text that people typed — hold and freeze
// reasons, names given with --by — where it could be mistaken for
// something else. Such text reaches CI logs, where a line that starts
// with "::" is a GitHub Actions workflow command (::error::,
// ::add-mask::, ::stop-commands::), and terminals, where control
// characters move the cursor or rewrite what was printed. So it is printed
// on one line, quoted, with every control character escaped.
package untrusted

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Text returns s quoted as a Go string literal: one line, starting with a
// quote, newlines and other control characters escaped.
func Text(s string) string { return strconv.Quote(s) }

var plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]*$`)

// Name returns s as is when it is a plain name (letters, digits and
// ._@+- , not starting with punctuation), and quoted otherwise, so that a
// name padded with spaces ("carol ") or carrying a newline shows as what it
// is.
func Name(s string) string {
	if plainName.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// Line returns s as is when it holds no control character, and quoted
// otherwise: for text that is usually plain and read in a column (a commit
// subject in smpctl history), where quoting every entry would only add
// noise but an escape sequence or a carriage return must not reach the
// terminal as one.
func Line(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}
