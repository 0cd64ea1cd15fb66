// Package conventional parses commit messages written to the Conventional
// Commits 1.0.0 specification (https://www.conventionalcommits.org):
//
//	type(scope)!: subject (#123)
//
//	body
//
//	BREAKING CHANGE: what broke and how to migrate
//	Co-authored-by: Name <email>
//
// Parse never fails: a message whose header is not conventional is a
// Commit of type Other with the first line as its subject, so a release
// counts it instead of crashing or silently dropping it. Types are matched
// case-insensitively and reported in lower case; the BREAKING CHANGE footer
// token must be upper case (BREAKING-CHANGE is its synonym), as the
// specification says.
package conventional

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Other is the type of a commit whose header is not conventional.
const Other = "other"

// MaxScanLen bounds how much of one message is examined. Commit messages
// have no size limit in git; a release note only needs the start, and the
// bound keeps a hostile or accidental multi-megabyte message cheap.
const MaxScanLen = 64 << 10

// Footer is one trailer line, e.g. "BREAKING CHANGE: x" or "Refs #12".
type Footer struct {
	Token string `json:"token"`
	// Value is the text after the separator (": " or " #"); a footer
	// continues over following lines until the next footer token.
	Value string `json:"value"`
}

// Commit is a parsed commit message.
type Commit struct {
	// Type is the lower-case type (feat, fix, ...), or Other.
	Type  string `json:"type"`
	Scope string `json:"scope,omitempty"`
	// Breaking is set by "!" before the colon or a BREAKING CHANGE footer.
	Breaking bool `json:"breaking,omitempty"`
	// Subject is the description without trailing pull request references;
	// for an Other commit it is the whole first line.
	Subject string `json:"subject"`
	Body    string `json:"body,omitempty"`
	// Footers in the order written.
	Footers []Footer `json:"footers,omitempty"`
	// PRs are pull request numbers from "(#123)" at the end of the header
	// (GitHub's squash merge) or "Merge pull request #123".
	PRs []int `json:"prs,omitempty"`
}

// Parse parses a commit message. It never panics and never fails.
func Parse(msg string) Commit {
	if len(msg) > MaxScanLen {
		msg = msg[:MaxScanLen]
	}
	msg = strings.ToValidUTF8(msg, string(utf8.RuneError))
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	msg = strings.TrimLeft(msg, "\n")
	header, rest, _ := strings.Cut(msg, "\n")
	header = strings.TrimSpace(header)

	c := parseHeader(header)
	c.Body, c.Footers = parseBody(rest)
	for _, f := range c.Footers {
		if isBreakingToken(f.Token) {
			c.Breaking = true
		}
	}
	return c
}

// parseHeader reads "type(scope)!: subject". Anything that does not fit is
// Other, with the whole line as the subject.
func parseHeader(h string) Commit {
	if c, ok := gitRevert(h); ok {
		return c
	}
	other := Commit{Type: Other, Subject: h, PRs: mergePR(h)}
	i := 0
	for i < len(h) && isLetter(h[i]) {
		i++
	}
	if i == 0 {
		return other
	}
	c := Commit{Type: strings.ToLower(h[:i])}
	if i < len(h) && h[i] == '(' {
		end := strings.IndexByte(h[i:], ')')
		if end < 0 {
			return other
		}
		scope := h[i+1 : i+end]
		if strings.TrimSpace(scope) == "" || strings.ContainsAny(scope, "()") {
			return other
		}
		c.Scope = strings.TrimSpace(scope)
		i += end + 1
	}
	if i < len(h) && h[i] == '!' {
		c.Breaking = true
		i++
	}
	if !strings.HasPrefix(h[i:], ": ") {
		return other
	}
	subject, prs := trimPRRefs(strings.TrimSpace(h[i+2:]))
	if subject == "" {
		return other
	}
	c.Subject, c.PRs = subject, prs
	return c
}

// gitRevert reads the header git revert and GitHub's Revert button write,
// `Revert "feat: x (#12)" (#15)`, as type revert with the reverted header
// (without its own PR numbers) as subject and the revert's PR numbers.
func gitRevert(h string) (Commit, bool) {
	rest, ok := strings.CutPrefix(h, `Revert "`)
	if !ok {
		return Commit{}, false
	}
	rest, prs := trimPRRefs(rest)
	inner, ok := strings.CutSuffix(rest, `"`)
	if !ok {
		return Commit{}, false
	}
	inner, _ = trimPRRefs(strings.TrimSpace(inner))
	if inner == "" {
		return Commit{}, false
	}
	return Commit{Type: "revert", Subject: inner, PRs: prs}, true
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// trimPRRefs removes trailing "(#123)" groups — GitHub appends one on a
// squash merge, a cherry-pick may add another — and returns the numbers in
// the order written.
func trimPRRefs(s string) (string, []int) {
	var prs []int
	for strings.HasSuffix(s, ")") {
		open := strings.LastIndex(s, "(#")
		if open < 0 {
			break
		}
		n, ok := prNumber(s[open+2 : len(s)-1])
		if !ok {
			break
		}
		prs = append([]int{n}, prs...)
		s = strings.TrimSpace(s[:open])
	}
	return s, prs
}

// mergePR reads GitHub's merge commit header "Merge pull request #123 from ...".
func mergePR(h string) []int {
	rest, ok := strings.CutPrefix(h, "Merge pull request #")
	if !ok {
		return nil
	}
	num, _, _ := strings.Cut(rest, " ")
	if n, ok := prNumber(num); ok {
		return []int{n}
	}
	return nil
}

func prNumber(s string) (int, bool) {
	if s == "" || len(s) > 9 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// parseBody splits what follows the header into the body and the footers.
// The footers start at the first paragraph whose first line is a footer
// ("Token: value" or "Token #value"); after that, a line that is not a
// footer continues the previous footer's value, so a BREAKING CHANGE note
// may span several lines and paragraphs, as the specification allows.
func parseBody(rest string) (string, []Footer) {
	lines := strings.Split(rest, "\n")
	start := -1
	for i, l := range lines {
		if (i == 0 || strings.TrimSpace(lines[i-1]) == "") && isFooterLine(l) {
			start = i
			break
		}
	}
	if start < 0 {
		return strings.TrimSpace(rest), nil
	}
	body := strings.TrimSpace(strings.Join(lines[:start], "\n"))
	var footers []Footer
	for _, l := range lines[start:] {
		if tok, val, ok := footerLine(l); ok {
			footers = append(footers, Footer{Token: tok, Value: val})
			continue
		}
		f := &footers[len(footers)-1]
		f.Value += "\n" + l
	}
	for i := range footers {
		footers[i].Value = strings.TrimSpace(footers[i].Value)
	}
	return body, footers
}

func isFooterLine(l string) bool { _, _, ok := footerLine(l); return ok }

// footerLine recognises "Token: value", "Token #value" and the two
// breaking-change tokens. A token is a word of letters, digits and '-'
// (git trailer style: Co-authored-by, Signed-off-by, Refs).
func footerLine(l string) (token, value string, ok bool) {
	for _, t := range []string{"BREAKING CHANGE", "BREAKING-CHANGE"} {
		if v, found := strings.CutPrefix(l, t+": "); found {
			return t, v, true
		}
		if l == t+":" {
			return t, "", true
		}
	}
	i := 0
	for i < len(l) && (isLetter(l[i]) || l[i] >= '0' && l[i] <= '9' || l[i] == '-') {
		i++
	}
	if i == 0 || !isLetter(l[0]) {
		return "", "", false
	}
	switch {
	case strings.HasPrefix(l[i:], ": "):
		return l[:i], l[i+2:], true
	case strings.HasPrefix(l[i:], " #") && len(l) > i+2:
		return l[:i], l[i+2:], true
	}
	return "", "", false
}

func isBreakingToken(t string) bool { return t == "BREAKING CHANGE" || t == "BREAKING-CHANGE" }

// BreakingNotes returns the text of the BREAKING CHANGE footers.
func (c Commit) BreakingNotes() []string {
	var notes []string
	for _, f := range c.Footers {
		if isBreakingToken(f.Token) && f.Value != "" {
			notes = append(notes, f.Value)
		}
	}
	return notes
}

// CoAuthors returns the names in Co-authored-by footers (without e-mail).
func (c Commit) CoAuthors() []string {
	var names []string
	for _, f := range c.Footers {
		if !strings.EqualFold(f.Token, "Co-authored-by") {
			continue
		}
		name, _, _ := strings.Cut(f.Value, "<")
		if name = strings.TrimSpace(name); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// Header renders the commit's header in canonical form: lower-case type,
// "!" when breaking, and the PR references at the end. For an Other commit
// it is the subject as written.
func (c Commit) Header() string {
	if c.Type == Other {
		return c.Subject
	}
	var b strings.Builder
	b.WriteString(c.Type)
	if c.Scope != "" {
		b.WriteString("(" + c.Scope + ")")
	}
	if c.Breaking {
		b.WriteString("!")
	}
	b.WriteString(": " + c.Subject)
	for _, n := range c.PRs {
		b.WriteString(" (#" + strconv.Itoa(n) + ")")
	}
	return b.String()
}
