// Package docs holds the repository's documentation. Its test checks that
// every reference to a Markdown file — in the docs, the README, Go code,
// manifests and scripts — names a file that is in this repository, and that
// a cited section (docs/design.md §4, docs/seed.md §15) exists there.
package docs

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// A Markdown link's target.
	mdLinkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// A word that names a Markdown file, with an optional section: docs/seed.md §15.
	mentionRE = regexp.MustCompile(`[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b(?:#[a-z0-9-]+)?(?:\s*§\s*([0-9]+))?`)
	// A link to this repository's files on GitHub.
	selfURLRE = regexp.MustCompile(`github\.com/smp/delivery/blob/main/([A-Za-z0-9_./-]+)`)
	// Inline code in Markdown: a link written there is an example.
	codeSpanRE = regexp.MustCompile("`[^`]*`")
	// The seed cited by section without a file.
	bareSeedRE = regexp.MustCompile(`(^|[^/])\bseed §`)
)

// scanned says whether a file's references are checked: documentation,
// Go code (not tests: their strings are fixtures of other repositories),
// manifests, workflows and scripts; never test data.
func scanned(rel string) bool {
	if strings.HasSuffix(rel, "_test.go") {
		return false
	}
	switch path.Ext(rel) {
	case ".md", ".go", ".yaml", ".yml", ".sh":
		return true
	}
	return path.Base(rel) == "Makefile"
}

func TestEveryReferenceResolves(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{} // repository-relative paths
	bases := map[string]bool{} // base names
	var toScan []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "vendor":
				return filepath.SkipDir
			}
			files[rel] = true
			return nil
		}
		files[rel] = true
		bases[d.Name()] = true
		if scanned(rel) && !strings.Contains("/"+rel, "/testdata/") {
			toScan = append(toScan, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(toScan) < 50 {
		t.Fatalf("only %d files to check: is the test running from docs/?", len(toScan))
	}
	resolve := func(from, ref string) (string, bool) {
		ref = strings.TrimSuffix(strings.SplitN(ref, "#", 2)[0], "/")
		if ref == "" {
			return "", true
		}
		for _, c := range []string{path.Join(path.Dir(from), ref), path.Clean(ref)} {
			if files[c] {
				return c, true
			}
		}
		// A file of another repository (a service's README.md or
		// services/order/CHANGELOG.md): its name is one we know, and its path
		// does not start in this repository's tree.
		first, _, nested := strings.Cut(path.Clean(ref), "/")
		if bases[path.Base(ref)] && (!nested || !files[first]) && !strings.HasPrefix(ref, "..") {
			return "", true
		}
		return "", false
	}
	for _, rel := range toScan {
		f, err := os.Open(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			where := fmt.Sprintf("%s:%d", rel, n)
			if bareSeedRE.MatchString(line) {
				t.Errorf("%s: cites the seed by section without a file: write docs/seed.md §N", where)
			}
			if path.Ext(rel) == ".md" {
				for _, m := range mdLinkRE.FindAllStringSubmatch(codeSpanRE.ReplaceAllString(line, ""), -1) {
					target := m[1]
					if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") ||
						!strings.ContainsAny(target, "./") { // (link): a placeholder in an example
						continue
					}
					if false {
						continue
					}
					if _, ok := resolve(rel, target); !ok {
						t.Errorf("%s: link to %s, which is not in the repository", where, target)
					}
				}
			}
			for _, m := range selfURLRE.FindAllStringSubmatch(line, -1) {
				if !files[strings.TrimSuffix(m[1], "/")] {
					t.Errorf("%s: link to github.com/smp/delivery/blob/main/%s, which is not in the repository", where, m[1])
				}
			}
			for _, loc := range mentionRE.FindAllStringSubmatchIndex(line, -1) {
				word := line[loc[0]:loc[1]]
				if urlWord(line, loc[0], loc[1]) {
					continue
				}
				ref := strings.Fields(word)[0]
				target, ok := resolve(rel, ref)
				if !ok {
					t.Errorf("%s: %s is not a file in the repository", where, ref)
					continue
				}
				if loc[2] >= 0 && target != "" {
					checkSection(t, root, where, target, line[loc[2]:loc[3]])
				}
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// urlWord reports whether the mention at i is part of a URL (those are
// checked by selfURLRE when they point at this repository).
func urlWord(line string, i, j int) bool {
	start := strings.LastIndexAny(line[:i], " \t\"'`(<[") + 1
	return strings.Contains(line[start:j], "://") || strings.Contains(line[start:j], "github.com/")
}

// checkSection checks that the Markdown file target has a heading for
// section n: "## 4. ..." or "## §4 ...".
func checkSection(t *testing.T, root, where, target, n string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(target)))
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	re := regexp.MustCompile(`(?m)^#+ (§` + n + `|` + n + `\.)\s`)
	if !re.Match(b) {
		t.Errorf("%s: cites %s §%s, which has no heading for section %s", where, target, n, n)
	}
}
