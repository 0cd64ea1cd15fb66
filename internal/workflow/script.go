package workflow

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rhysd/actionlint"
)

// Step is a run: step of a job, ready to execute outside GitHub.
type Step struct {
	Job  string
	Name string
	ID   string
	// Run is the script, exactly as in the workflow.
	Run string
	// Dir is the working directory relative to the repository root
	// (the step's working-directory, else the job's defaults.run).
	Dir string
	// Env is the workflow, job and step env, later ones winning, each
	// value evaluated in the scope the steps were asked for.
	Env map[string]string
	// Uses is set instead of Run for an action step.
	Uses string
	// If is the step's `if:` condition as written ("" when it has none);
	// EvalCondition decides it in the job's scope.
	If string
}

// Steps returns a job's steps with their env and working directory
// evaluated in scope.
func (f *File) Steps(jobID string, scope Scope) ([]Step, error) {
	job, ok := f.Workflow.Jobs[jobID]
	if !ok {
		return nil, fmt.Errorf("%s: no job %q", f.Path, jobID)
	}
	base := map[string]string{}
	if err := evalEnv(f.Workflow.Env, scope, base); err != nil {
		return nil, fmt.Errorf("%s: env: %w", f.Path, err)
	}
	if err := evalEnv(job.Env, scope, base); err != nil {
		return nil, fmt.Errorf("%s: job %s: env: %w", f.Path, jobID, err)
	}
	jobDir := ""
	if job.Defaults != nil && job.Defaults.Run != nil && job.Defaults.Run.WorkingDirectory != nil {
		v, err := Eval(job.Defaults.Run.WorkingDirectory.Value, scope)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: working-directory: %w", f.Path, jobID, err)
		}
		jobDir = ToString(v)
	}
	var out []Step
	for i, st := range job.Steps {
		s := Step{Job: jobID, Env: map[string]string{}}
		for k, v := range base {
			s.Env[k] = v
		}
		if st.Name != nil {
			s.Name = st.Name.Value
		}
		if st.ID != nil {
			s.ID = st.ID.Value
		}
		if st.If != nil {
			s.If = st.If.Value
		}
		if err := evalEnv(st.Env, scope, s.Env); err != nil {
			return nil, fmt.Errorf("%s: job %s step %d: env: %w", f.Path, jobID, i+1, err)
		}
		switch e := st.Exec.(type) {
		case *actionlint.ExecRun:
			s.Run = e.Run.Value
			s.Dir = jobDir
			if e.WorkingDirectory != nil {
				v, err := Eval(e.WorkingDirectory.Value, scope)
				if err != nil {
					return nil, fmt.Errorf("%s: job %s step %d: working-directory: %w", f.Path, jobID, i+1, err)
				}
				s.Dir = ToString(v)
			}
		case *actionlint.ExecAction:
			s.Uses = e.Uses.Value
		}
		if s.Name == "" {
			s.Name = s.Uses
		}
		out = append(out, s)
	}
	return out, nil
}

func evalEnv(env *actionlint.Env, scope Scope, into map[string]string) error {
	if env == nil {
		return nil
	}
	if env.Expression != nil {
		return fmt.Errorf("env given as one expression (%s) cannot be checked statically; list the variables", env.Expression.Value)
	}
	for _, v := range env.Vars {
		val, err := Eval(v.Value.Value, scope)
		if err != nil {
			return fmt.Errorf("%s: %w", v.Name.Value, err)
		}
		into[v.Name.Value] = ToString(val)
	}
	return nil
}

// Exec runs a run: step's script the way GitHub's default shell does
// (bash --noprofile --norc -eo pipefail) in root/Dir, with environ plus the
// step's env. ctx bounds the script, and so does timeout when it is above
// zero (a job's timeout-minutes); tests pass 0 and their own deadline.
func (s Step) Exec(ctx context.Context, root string, environ []string, timeout time.Duration, stdout, stderr io.Writer) error {
	if s.Run == "" {
		return fmt.Errorf("step %q of job %s has no run: script", s.Name, s.Job)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
	cmd.Dir = filepath.Join(root, s.Dir)
	cmd.Env = append([]string{}, environ...)
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+s.Env[k])
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("job %s, step %q (in %s): %w", s.Job, s.Name, cmd.Dir, err)
	}
	return nil
}

// ParseOutputs reads a $GITHUB_OUTPUT file: name=value lines and
// name<<DELIM heredocs.
func ParseOutputs(content string) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(content, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		if k, delim, ok := strings.Cut(l, "<<"); ok && !strings.Contains(k, "=") {
			var val []string
			i++
			for ; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			if i == len(lines) {
				return nil, fmt.Errorf("output %s: no closing %s", k, delim)
			}
			out[k] = strings.Join(val, "\n")
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("output line %q is neither name=value nor name<<DELIM", l)
		}
		out[k] = v
	}
	return out, nil
}
