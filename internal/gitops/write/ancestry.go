package write

import (
	"context"
	"errors"
	"os/exec"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// olderByAncestry asks the service repository whether commit is an
// ancestor of running. decided is false when either commit is unknown
// there or the two have diverged; the caller then falls back to times.
func olderByAncestry(ctx context.Context, repo, commit, running string) (older, decided bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	git := func(args ...string) (int, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repo}, args...)...)
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		if err != nil {
			return -1, err
		}
		return 0, nil
	}
	if code, err := git("rev-parse", "--git-dir"); err != nil || code != 0 {
		return false, false, fault.Inputf("SourceRepo", "%s is not a git repository: give a clone of the service's repository", repo)
	}
	for _, c := range []string{commit, running} {
		if code, err := git("cat-file", "-e", c+"^{commit}"); err != nil || code != 0 {
			return false, false, err
		}
	}
	if code, err := git("merge-base", "--is-ancestor", commit, running); err != nil {
		return false, false, err
	} else if code == 0 {
		return true, true, nil
	}
	if code, err := git("merge-base", "--is-ancestor", running, commit); err != nil {
		return false, false, err
	} else if code == 0 {
		return false, true, nil
	}
	return false, false, nil
}
