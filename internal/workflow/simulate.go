package workflow

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
)

// Result is a job's conclusion.
type Result string

// Job results, as GitHub names them in needs.<job>.result.
const (
	Success Result = "success"
	Failure Result = "failure"
	Skipped Result = "skipped"
)

// Executor stands in for the runner: it is called for each job whose `if:`
// passes (never for reusable workflow calls, which are followed) and
// returns the job's result and the outputs of its steps by step ID. The
// job's own outputs are then evaluated from its `outputs:` expressions, so
// the plumbing from step outputs to needs.<job>.outputs is exercised too.
type Executor func(path string, job *actionlint.Job, scope Scope) (Result, map[string]map[string]string)

// Resolver returns the workflow file a job's `uses:` names.
type Resolver func(uses string) (*File, error)

// Run is the input of a simulation.
type Run struct {
	// Github is the github context (ref, sha, event_name, event, ...).
	Github map[string]any
	// Inputs are the workflow_call inputs, already typed; defaults of the
	// called workflow fill in the rest.
	Inputs   map[string]any
	Exec     Executor
	Resolve  Resolver
	prefix   string
	maxDepth int
}

// JobRun is one job's outcome.
type JobRun struct {
	Path    string // job ID, prefixed by the calling job's path for nested calls ("cd/plan")
	Result  Result
	Outputs map[string]string
}

// Outcome is the result of simulating a workflow.
type Outcome struct {
	Jobs    map[string]JobRun
	Outputs map[string]string
	Failed  bool
}

// Ran returns the paths of the jobs that ran (whatever their result), sorted.
func (o *Outcome) Ran() []string {
	var out []string
	for p, j := range o.Jobs {
		if j.Result != Skipped {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Simulate decides, job by job in dependency order, which jobs of f run
// under r, following calls to reusable workflows.
func (f *File) Simulate(r Run) (*Outcome, error) {
	if r.maxDepth == 0 {
		r.maxDepth = 4 // GitHub's own limit on nested reusable workflows
	}
	order, err := f.order()
	if err != nil {
		return nil, err
	}
	inputs, err := f.typedInputs(r.Inputs)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Jobs: map[string]JobRun{}, Outputs: map[string]string{}}
	runs := map[string]JobRun{}
	failedAncestor := map[string]bool{}
	for _, id := range order {
		job := f.Workflow.Jobs[id]
		path := r.prefix + id
		needs := map[string]any{}
		st := Status{}
		for _, n := range job.Needs {
			nid := strings.ToLower(n.Value)
			nr := runs[nid]
			needs[nid] = map[string]any{"result": string(nr.Result), "outputs": toAnyMap(nr.Outputs)}
			if nr.Result == Failure || failedAncestor[nid] {
				st.Failed = true
			}
			if nr.Result != Success {
				st.NeedNotSucceeded = true
			}
		}
		failedAncestor[id] = st.Failed
		scope := Scope{Contexts: map[string]any{
			"github": r.Github, "inputs": inputs, "needs": needs, "vars": map[string]any{},
		}, Status: st}
		cond := ""
		if job.If != nil {
			cond = job.If.Value
		}
		ok, err := EvalCondition(cond, scope)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: if: %w", f.Path, path, err)
		}
		if !ok {
			runs[id] = JobRun{Path: path, Result: Skipped}
			out.Jobs[path] = runs[id]
			continue
		}
		var jr JobRun
		if job.WorkflowCall != nil {
			jr, err = f.call(r, path, job, scope, out)
		} else {
			jr, err = f.exec(r, path, job, scope)
		}
		if err != nil {
			return nil, err
		}
		if jr.Result == Failure {
			out.Failed = true
		}
		runs[id] = jr
		out.Jobs[path] = jr
	}
	if wc := f.WorkflowCall(); wc != nil {
		jobs := map[string]any{}
		for id, jr := range runs {
			jobs[id] = map[string]any{"result": string(jr.Result), "outputs": toAnyMap(jr.Outputs)}
		}
		scope := Scope{Contexts: map[string]any{"github": r.Github, "inputs": inputs, "jobs": jobs}}
		for name, o := range wc.Outputs {
			if o.Value == nil {
				continue
			}
			v, err := Eval(o.Value.Value, scope)
			if err != nil {
				return nil, fmt.Errorf("%s: output %s: %w", f.Path, name, err)
			}
			out.Outputs[name] = ToString(v)
		}
	}
	return out, nil
}

func (f *File) exec(r Run, path string, job *actionlint.Job, scope Scope) (JobRun, error) {
	if r.Exec == nil {
		return JobRun{}, fmt.Errorf("%s: job %s runs but the simulation has no executor", f.Path, path)
	}
	res, steps := r.Exec(path, job, scope)
	jr := JobRun{Path: path, Result: res, Outputs: map[string]string{}}
	if res != Success {
		return jr, nil
	}
	stepCtx := map[string]any{}
	for id, outs := range steps {
		stepCtx[id] = map[string]any{"outputs": toAnyMap(outs), "outcome": "success", "conclusion": "success"}
	}
	ctx := map[string]any{}
	for k, v := range scope.Contexts {
		ctx[k] = v
	}
	ctx["steps"] = stepCtx
	for name, o := range job.Outputs {
		if o.Value == nil {
			continue
		}
		v, err := Eval(o.Value.Value, Scope{Contexts: ctx})
		if err != nil {
			return JobRun{}, fmt.Errorf("%s: job %s: output %s: %w", f.Path, path, name, err)
		}
		jr.Outputs[name] = ToString(v)
	}
	return jr, nil
}

func (f *File) call(r Run, path string, job *actionlint.Job, scope Scope, out *Outcome) (JobRun, error) {
	if r.maxDepth <= 1 {
		return JobRun{}, fmt.Errorf("%s: job %s: reusable workflows nested too deep", f.Path, path)
	}
	if r.Resolve == nil {
		return JobRun{}, fmt.Errorf("%s: job %s calls %s but the simulation has no resolver", f.Path, path, job.WorkflowCall.Uses.Value)
	}
	called, err := r.Resolve(job.WorkflowCall.Uses.Value)
	if err != nil {
		return JobRun{}, fmt.Errorf("%s: job %s: %w", f.Path, path, err)
	}
	with := map[string]any{}
	for name, in := range job.WorkflowCall.Inputs {
		if in.Value == nil {
			continue
		}
		v, err := Eval(in.Value.Value, scope)
		if err != nil {
			return JobRun{}, fmt.Errorf("%s: job %s: with.%s: %w", f.Path, path, name, err)
		}
		with[name] = v
	}
	nested := r
	nested.Inputs = with
	nested.prefix = path + "/"
	nested.maxDepth = r.maxDepth - 1
	o, err := called.Simulate(nested)
	if err != nil {
		return JobRun{}, err
	}
	for p, j := range o.Jobs {
		out.Jobs[p] = j
	}
	res := Success
	if o.Failed {
		res = Failure
	}
	return JobRun{Path: path, Result: res, Outputs: o.Outputs}, nil
}

// typedInputs applies the workflow_call input declarations: defaults for
// inputs not given, and each value converted to the declared type.
func (f *File) typedInputs(given map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range given {
		out[strings.ToLower(k)] = v
	}
	wc := f.WorkflowCall()
	if wc == nil {
		return out, nil
	}
	for _, in := range wc.Inputs {
		name := strings.ToLower(in.Name.Value)
		v, ok := out[name]
		if !ok {
			if in.Required != nil && in.Required.Value {
				return nil, fmt.Errorf("%s: required input %s not given", f.Path, in.Name.Value)
			}
			if in.Default == nil {
				v = zero(in.Type)
			} else {
				v = in.Default.Value
			}
		}
		tv, err := convert(v, in.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: input %s: %w", f.Path, in.Name.Value, err)
		}
		out[name] = tv
	}
	return out, nil
}

func zero(t actionlint.WorkflowCallEventInputType) any {
	switch t {
	case actionlint.WorkflowCallEventInputTypeBoolean:
		return false
	case actionlint.WorkflowCallEventInputTypeNumber:
		return float64(0)
	}
	return ""
}

func convert(v any, t actionlint.WorkflowCallEventInputType) (any, error) {
	switch t {
	case actionlint.WorkflowCallEventInputTypeBoolean:
		switch v := v.(type) {
		case bool:
			return v, nil
		case string:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%q is not a boolean", v)
			}
			return b, nil
		}
		return nil, fmt.Errorf("%v is not a boolean", v)
	case actionlint.WorkflowCallEventInputTypeNumber:
		n := toNumber(v)
		if n != n { // NaN
			return nil, fmt.Errorf("%v is not a number", v)
		}
		return n, nil
	}
	return ToString(v), nil
}

// order sorts the jobs so that every job comes after the jobs it needs.
func (f *File) order() ([]string, error) {
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var out []string
	var visit func(id string) error
	visit = func(id string) error {
		switch state[id] {
		case visiting:
			return fmt.Errorf("%s: job %s is part of a needs cycle", f.Path, id)
		case done:
			return nil
		}
		job, ok := f.Workflow.Jobs[id]
		if !ok {
			return fmt.Errorf("%s: a job needs %q, which does not exist", f.Path, id)
		}
		state[id] = visiting
		for _, n := range job.Needs {
			if err := visit(strings.ToLower(n.Value)); err != nil {
				return err
			}
		}
		state[id] = done
		out = append(out, id)
		return nil
	}
	for _, id := range f.JobIDs() {
		if err := visit(id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
