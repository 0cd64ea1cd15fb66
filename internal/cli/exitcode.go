package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/smp/delivery/internal/fault"
)

// smpctl's exit codes (README, "smpctl"): this file is the only place that
// decides them.
const (
	exitOK      = 0   // done, including "nothing to do"
	exitRefused = 1   // a check, a gate or a remote refused, or smpctl failed
	exitInvalid = 2   // bad input or usage: nothing was written
	exitSignal  = 130 // interrupted (SIGINT, SIGTERM)
)

// exitCode decides the exit code for the error cmd returned. ctx is the
// run's context, to tell an interrupt from a timeout.
func exitCode(ctx context.Context, cmd *cobra.Command, err error) int {
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitSignal
	}
	switch {
	case fault.IsInvalid(err):
		return exitInvalid
	case fault.IsRefused(err):
		return exitRefused
	}
	if !ran(cmd) {
		// Cobra refused the command line before our code ran: unknown
		// command, wrong number of arguments.
		return exitInvalid
	}
	return exitRefused
}

// inputAnnotation prefixes a command annotation that names the flag of a
// package input whose name is not the flag's (inputFlag).
const inputAnnotation = "smpctl.input."

// inputFlag says that flag sets the package input named input on cmd, for
// inputs whose names differ from their flags (BuildOptions.Repo is --image).
func inputFlag(cmd *cobra.Command, input, flag string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[inputAnnotation+input] = flag
}

// nameFlag puts the flag that set a package's input in front of an input
// error's message: a package says `environment "../x" is not a name`, the
// user reads `--env: environment "../x" is not a name`. The flag is the
// flag inputFlag recorded, else the input's name in lower case (GitOps →
// --gitops) or kebab case (SourceCommit → --source-commit) when cmd has such
// a flag; other inputs (arguments) keep the package's message.
func nameFlag(cmd *cobra.Command, err error) string {
	msg := strings.TrimSpace(err.Error())
	var ie *fault.InputError
	if cmd == nil || !errors.As(err, &ie) {
		return msg
	}
	f := lookupFlag(cmd, cmd.Annotations[inputAnnotation+ie.Input])
	if f == nil {
		f = lookupFlag(cmd, strings.ToLower(ie.Input))
	}
	if f == nil {
		f = lookupFlag(cmd, kebab(ie.Input))
	}
	if f == nil || strings.Contains(msg, "--"+f.Name) {
		return msg
	}
	return fmt.Sprintf("--%s: %s", f.Name, msg)
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if name == "" {
		return nil
	}
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

// kebab turns an Options field name into a flag name: SourceCommit →
// source-commit, DevMaxAge → dev-max-age, CAFile → ca-file.
func kebab(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1])) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
