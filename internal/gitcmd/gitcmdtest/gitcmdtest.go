// Package gitcmdtest runs git for tests that build real repositories: apart
// from the developer's own configuration (hooks, signing, templates and
// default branch of ~/.gitconfig would change what a test builds), with a
// fixed identity, and the test failed with git's output when git fails.
package gitcmdtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd"
)

// Name and Email are the identity of the commits Git makes.
const (
	Name  = "fixture"
	Email = "fixture@example.com"
)

// Git runs git in dir and returns its output (standard output and error)
// without surrounding white space; it fails the test when git fails.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return GitEnv(t, dir, nil, args...)
}

// GitEnv is Git with env (KEY=VALUE) added last, so that it wins over
// the defaults: another identity, fixed commit dates.
func GitEnv(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	g := gitcmd.Runner{Dir: dir, Timeout: 2 * time.Minute, Env: append(Env(Name, Email), env...)}
	cmd, cancel := g.Command(context.Background(), args...)
	defer cancel()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Env is the environment of a git isolated from the machine's
// configuration, committing as name <email>.
func Env(name, email string) []string {
	return []string{
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email,
		"GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + email,
	}
}

// Dates fixes the author and committer dates of the commits git makes.
func Dates(at time.Time) []string {
	d := at.Format(time.RFC3339)
	return []string{"GIT_AUTHOR_DATE=" + d, "GIT_COMMITTER_DATE=" + d}
}
