package release

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smp/delivery/internal/conventional"
)

// ChangelogOptions shape a CHANGELOG section.
type ChangelogOptions struct {
	// Version in the heading ("1.3.0", "v1.3.0" or with the tag prefix);
	// default: the next version.
	Version string
	// Date in the heading, as a UTC calendar day.
	Date time.Time
	// RepoURL, e.g. https://github.com/smp/order-svc, turns PR numbers and
	// commit hashes into links; without it they are plain text.
	RepoURL string
	// All includes maintenance commits (docs, test, build, ci, chore,
	// style), which are left out by default: a changelog is for the people
	// who run the service, not a git log.
	All bool
}

// Changelog is one version's section of CHANGELOG.md.
type Changelog struct {
	// Release is false when no Version was given and nothing asks for a
	// release; Reason then says why and Markdown is empty.
	Release  bool      `json:"release"`
	Version  string    `json:"version,omitempty"`
	Previous string    `json:"previous,omitempty"`
	Date     string    `json:"date,omitempty"`
	Sections []Section `json:"sections,omitempty"`
	// Hidden counts the maintenance commits left out.
	Hidden   int    `json:"hidden"`
	Markdown string `json:"markdown"`
	Reason   string `json:"reason,omitempty"`
}

// Section is a group of entries under a "### Title" heading.
type Section struct {
	Title   string  `json:"title"`
	Entries []Entry `json:"entries"`
}

// Entry is one commit in the changelog.
type Entry struct {
	Type    string   `json:"type"`
	Scope   string   `json:"scope,omitempty"`
	Subject string   `json:"subject"`
	PRs     []int    `json:"prs,omitempty"`
	SHA     string   `json:"sha"`
	Authors []string `json:"authors"`
	// Notes are the BREAKING CHANGE footers of a breaking commit.
	Notes []string `json:"notes,omitempty"`
}

// Section titles, in the order they appear (Keep a Changelog's names where
// it has one).
const (
	SectionBreaking    = "Breaking changes"
	SectionAdded       = "Added"
	SectionFixed       = "Fixed"
	SectionPerformance = "Performance"
	SectionChanged     = "Changed"
	SectionReverted    = "Reverted"
	SectionOther       = "Other"
	SectionMaintenance = "Maintenance"
)

var sectionOrder = []string{SectionBreaking, SectionAdded, SectionFixed, SectionPerformance, SectionChanged, SectionReverted, SectionOther, SectionMaintenance}

// sectionOf says where a commit goes; "" for a maintenance commit when they
// are left out. Unknown types and malformed headers go to Other, so nothing
// that shipped disappears from the changelog.
func sectionOf(c conventional.Commit) string {
	if c.Breaking {
		return SectionBreaking
	}
	switch c.Type {
	case "feat":
		return SectionAdded
	case "fix":
		return SectionFixed
	case "perf":
		return SectionPerformance
	case "refactor":
		return SectionChanged
	case "revert":
		return SectionReverted
	case "docs", "test", "build", "ci", "chore", "style":
		return SectionMaintenance
	}
	return SectionOther
}

// BuildChangelog renders the section for the commits since the latest
// release reachable from HEAD.
func BuildChangelog(ctx context.Context, o Options, co ChangelogOptions) (Changelog, error) {
	o = o.withDefaults()
	var version string
	if co.Version != "" {
		t, err := ParseVersion(co.Version, o.TagPrefix, true)
		if err != nil {
			return Changelog{}, err
		}
		version = t.Version.String()
	}
	_, h, err := load(ctx, o)
	if err != nil {
		return Changelog{}, err
	}
	if version == "" {
		n := nextFrom(o, h, false)
		if !n.Release {
			return Changelog{Previous: h.prevTag, Reason: n.Reason}, nil
		}
		version = n.Version
	}
	cl := RenderChangelog(version, co.Date, h.commits, co)
	cl.Previous = h.prevTag
	return cl, nil
}

// RenderChangelog groups commits (newest first) into a Keep a Changelog
// section for version.
func RenderChangelog(version string, date time.Time, commits []Commit, co ChangelogOptions) Changelog {
	cl := Changelog{Release: true, Version: version, Date: date.UTC().Format(time.DateOnly)}
	groups := map[string][]Entry{}
	for _, c := range commits {
		title := sectionOf(c.Commit)
		if title == SectionMaintenance && !co.All {
			cl.Hidden++
			continue
		}
		authors := []string{c.Author}
		for _, a := range c.CoAuthors() {
			if !slices.Contains(authors, a) {
				authors = append(authors, a)
			}
		}
		e := Entry{Type: c.Type, Scope: c.Scope, Subject: c.Subject, PRs: c.PRs, SHA: c.SHA, Authors: authors}
		if title == SectionOther && c.Type != conventional.Other {
			// An unknown type keeps its name, so "security: ..." still reads as one.
			e.Subject = c.Type + ": " + c.Subject
		}
		if c.Breaking {
			e.Notes = c.BreakingNotes()
		}
		groups[title] = append(groups[title], e)
	}
	for _, title := range sectionOrder {
		if len(groups[title]) > 0 {
			cl.Sections = append(cl.Sections, Section{Title: title, Entries: groups[title]})
		}
	}
	cl.Markdown = cl.markdown(strings.TrimSuffix(co.RepoURL, "/"))
	return cl
}

func (cl Changelog) markdown(repoURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## [%s] - %s\n", cl.Version, cl.Date)
	if len(cl.Sections) == 0 {
		b.WriteString("\nNo notable changes.\n")
	}
	for _, s := range cl.Sections {
		fmt.Fprintf(&b, "\n### %s\n\n", s.Title)
		for _, e := range s.Entries {
			b.WriteString("- ")
			if e.Scope != "" {
				fmt.Fprintf(&b, "**%s:** ", e.Scope)
			}
			b.WriteString(e.Subject)
			b.WriteString(" (" + refs(e, repoURL) + ")")
			b.WriteString(" — " + strings.Join(e.Authors, ", ") + "\n")
			for _, n := range e.Notes {
				for _, line := range strings.Split(n, "\n") {
					if strings.TrimSpace(line) == "" {
						b.WriteString("\n")
						continue
					}
					b.WriteString("  " + line + "\n")
				}
			}
		}
	}
	return b.String()
}

// refs renders an entry's PR numbers, or its short hash when it has none.
func refs(e Entry, repoURL string) string {
	if len(e.PRs) == 0 {
		if repoURL == "" {
			return short(e.SHA)
		}
		return fmt.Sprintf("[%s](%s/commit/%s)", short(e.SHA), repoURL, e.SHA)
	}
	parts := make([]string, len(e.PRs))
	for i, n := range e.PRs {
		s := "#" + strconv.Itoa(n)
		if repoURL != "" {
			s = fmt.Sprintf("[%s](%s/pull/%d)", s, repoURL, n)
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}
