package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
)

func TestExitCodeFollowsTheContract(t *testing.T) {
	t.Parallel()
	ran := &cobra.Command{Annotations: map[string]string{ranAnnotation: "true"}}
	notRan := &cobra.Command{}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		cmd  *cobra.Command
		err  error
		want int
	}{
		{"no error is done", context.Background(), ran, nil, exitOK},
		{"invalid input is 2", context.Background(), ran, fmt.Errorf("deploy: %w", fault.Inputf("Env", "bad")), exitInvalid},
		{"a refusal is 1", context.Background(), ran, fault.Refusedf("push rejected"), exitRefused},
		{"any other error of a command that ran is 1", context.Background(), ran, errors.New("disk full"), exitRefused},
		{"an error cobra returned before the command ran is usage: 2", context.Background(), notRan, errors.New(`unknown command "x"`), exitInvalid},
		{"a refusal before the command ran stays 1", context.Background(), notRan, fault.Refusedf("no"), exitRefused},
		{"an interrupt is 130", cancelled, ran, fmt.Errorf("sync: %w", context.Canceled), exitSignal},
		{"a timeout is not an interrupt", context.Background(), ran, context.Canceled, exitRefused},
	}
	for _, tc := range tests {
		if got := exitCode(tc.ctx, tc.cmd, tc.err); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestTheCLINamesTheFlagOfAnInput(t *testing.T) {
	t.Parallel()
	cmd := &cobra.Command{Use: "x"}
	cmd.Flags().String("source-commit", "", "")
	cmd.Flags().String("gitops", "", "")
	cmd.Flags().String("image", "", "")
	inputFlag(cmd, "Repo", "image")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a field in camel case is its flag in kebab case", fault.Inputf("SourceCommit", "commit %q is not hex", "x"), `--source-commit: commit "x" is not hex`},
		{"a field whose lower case is a flag", fmt.Errorf("open: %w", fault.Inputf("GitOps", "no repository")), "--gitops: open: no repository"},
		{"an input recorded with inputFlag", fault.Inputf("Repo", "no image repository"), "--image: no image repository"},
		{"an input no flag sets keeps the package's message", fault.Inputf("service", "unknown service"), "unknown service"},
		{"other errors keep their message", fault.Invalidf("bad"), "bad"},
		{"a message that already names the flag is left alone", fault.Inputf("Gitops", "--gitops is empty"), "--gitops is empty"},
	}
	for _, tc := range tests {
		if got := nameFlag(cmd, tc.err); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
