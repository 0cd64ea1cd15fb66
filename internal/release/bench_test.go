package release

import (
	"bytes"
	"fmt"
	"os/exec"
	"testing"
)

// bigHistory builds, with git fast-import (seconds, not minutes), a
// repository of n commits alternating between two services of a monorepo,
// every tenth commit a feat, and a release tag for each service at the
// start.
func bigHistory(b *testing.B, n int) *gitRepo {
	b.Helper()
	r := newGitRepo(b)
	var s bytes.Buffer
	for i := 1; i <= n; i++ {
		svc := "order"
		if i%2 == 0 {
			svc = "dispatch"
		}
		typ := "fix"
		if i%10 == 0 {
			typ = "feat"
		}
		msg := fmt.Sprintf("%s(%s): change %d (#%d)\n\nWhy it was needed.\n", typ, svc, i, i)
		content := fmt.Sprintf("%d\n", i)
		fmt.Fprintf(&s, "commit refs/heads/main\nmark :%d\nauthor Dev <dev@smp.vn> %d +0000\ncommitter Dev <dev@smp.vn> %d +0000\ndata %d\n%s",
			i, 1767225600+i, 1767225600+i, len(msg), msg)
		if i > 1 {
			fmt.Fprintf(&s, "from :%d\n", i-1)
		}
		fmt.Fprintf(&s, "M 644 inline services/%s/file.txt\ndata %d\n%s\n", svc, len(content), content)
	}
	s.WriteString("reset refs/tags/order-svc/v1.0.0\nfrom :2\n\nreset refs/tags/v1.0.0\nfrom :2\n\n")
	cmd := exec.Command("git", "-C", r.dir, "fast-import", "--quiet")
	cmd.Stdin = &s
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("fast-import: %v\n%s", err, out)
	}
	r.git("reset", "--quiet", "--hard", "main")
	return r
}

// BenchmarkNextVersion compares a whole-repository release with one
// service's (--tag-prefix and --path) over the same 5,000-commit history:
// the monorepo option should cost about the same.
func BenchmarkNextVersion(b *testing.B) {
	r := bigHistory(b, 5000)
	for _, bc := range []struct {
		name string
		o    Options
		want int
	}{
		{"whole-repo", Options{Dir: r.dir}, 4998},
		{"one-service-path", Options{Dir: r.dir, TagPrefix: "order-svc/", Path: "services/order"}, 2499},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				n, err := NextVersion(ctx(b), bc.o, true)
				if err != nil {
					b.Fatal(err)
				}
				if n.Commits != bc.want {
					b.Fatalf("%d commits, want %d", n.Commits, bc.want)
				}
			}
		})
	}
}
