package layout

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/smp/delivery/internal/gitcmd"
)

// remoteTimeout bounds a push to the remote Init creates.
const remoteTimeout = 2 * time.Minute

// commit records what is staged under id, with the subject and trailers of
// docs/gitops-format.md, and returns the new commit's hash. Only paths are
// committed when given, so unrelated staged changes of the user stay staged.
func commit(ctx context.Context, g gitcmd.Runner, id Identity, subject string, trailers []string, paths ...string) (string, error) {
	args := []string{
		"-c", "user.name=" + id.Name, "-c", "user.email=" + id.Email,
		"-c", "commit.gpgSign=false", "commit", "--quiet", "--no-verify",
		"-m", subject, "-m", strings.Join(trailers, "\n"),
	}
	if len(paths) > 0 {
		args = append(args, "--")
		args = append(args, paths...)
	}
	g.Env = append(g.Env,
		"GIT_AUTHOR_NAME="+id.Name, "GIT_AUTHOR_EMAIL="+id.Email,
		"GIT_COMMITTER_NAME="+id.Name, "GIT_COMMITTER_EMAIL="+id.Email)
	if _, err := g.Run(ctx, args...); err != nil {
		return "", fmt.Errorf("commit %q: %w", subject, err)
	}
	sha, err := g.Output(ctx, "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("read new commit: %w", err)
	}
	return sha, nil
}

// isWorkTree reports whether dir is inside a git work tree.
func isWorkTree(ctx context.Context, dir string) bool {
	out, err := (gitcmd.Runner{Dir: dir}).Output(ctx, "rev-parse", "--is-inside-work-tree")
	return err == nil && out == "true"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
