package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
)

// ErrExpr is wrapped by every expression parse or evaluation error.
var ErrExpr = errors.New("expression")

// Status is what the status functions of an `if:` see: the results of the
// jobs a job needs (success(), failure(), always(), cancelled()).
type Status struct {
	// Failed is true when a needed job (transitively) failed.
	Failed bool
	// Cancelled is true when the run was cancelled.
	Cancelled bool
	// NeedNotSucceeded is true when a needed job failed or was skipped:
	// success() is then false, so a job without a status function skips.
	NeedNotSucceeded bool
}

func (s Status) succeeded() bool { return !s.Failed && !s.Cancelled && !s.NeedNotSucceeded }

// Scope is the data an expression is evaluated against: the top-level
// contexts (github, needs, inputs, env, vars, jobs, steps, ...) as plain Go
// values (map[string]any, []any, string, float64, bool, nil) and the status
// the status functions report.
type Scope struct {
	Contexts map[string]any
	Status   Status
}

// Eval parses src — a bare expression as in `if:`, or text with ${{ }}
// placeholders — and evaluates it. A value that is exactly one placeholder
// keeps its type; text with placeholders (or none) is a string.
func Eval(src string, s Scope) (any, error) {
	parts, err := splitTemplate(src)
	if err != nil {
		return nil, err
	}
	if len(parts) == 1 && parts[0].expr {
		return evalExpr(parts[0].text, s)
	}
	if len(parts) == 0 {
		return "", nil
	}
	var b strings.Builder
	for _, p := range parts {
		if !p.expr {
			b.WriteString(p.text)
			continue
		}
		v, err := evalExpr(p.text, s)
		if err != nil {
			return nil, err
		}
		b.WriteString(ToString(v))
	}
	return b.String(), nil
}

// EvalCondition evaluates a job's or step's `if:`. GitHub treats `if:` as an
// expression whether or not it is wrapped in ${{ }}, and adds an implicit
// success() unless the condition calls a status function itself.
func EvalCondition(cond string, s Scope) (bool, error) {
	src := strings.TrimSpace(cond)
	if src == "" {
		return s.Status.succeeded(), nil
	}
	if strings.HasPrefix(src, "${{") && strings.HasSuffix(src, "}}") && strings.Count(src, "${{") == 1 {
		src = strings.TrimSpace(src[3 : len(src)-2])
	}
	node, err := parseExpr(src)
	if err != nil {
		return false, err
	}
	if !callsStatusFunc(node) && !s.Status.succeeded() {
		return false, nil
	}
	v, err := (&evaluator{scope: s}).eval(node)
	if err != nil {
		return false, fmt.Errorf("%w %q: %w", ErrExpr, cond, err)
	}
	return Truthy(v), nil
}

type templatePart struct {
	text string
	expr bool
}

// splitTemplate cuts "a ${{ x }} b" into literal and expression parts.
// It finds the closing braces with actionlint's lexer so a '}}' inside a
// string literal does not end the placeholder early.
func splitTemplate(src string) ([]templatePart, error) {
	var parts []templatePart
	rest := src
	for {
		i := strings.Index(rest, "${{")
		if i < 0 {
			if rest != "" {
				parts = append(parts, templatePart{text: rest})
			}
			return parts, nil
		}
		if i > 0 {
			parts = append(parts, templatePart{text: rest[:i]})
		}
		body := rest[i+3:]
		_, off, lerr := actionlint.LexExpression(body)
		if lerr != nil {
			return nil, fmt.Errorf("%w %q: %s", ErrExpr, src, lerr.Message)
		}
		// off is the offset just past the closing "}}".
		if off < 2 || off > len(body) {
			return nil, fmt.Errorf("%w %q: unterminated ${{", ErrExpr, src)
		}
		parts = append(parts, templatePart{text: strings.TrimSpace(body[:off-2]), expr: true})
		rest = body[off:]
	}
}

func parseExpr(src string) (actionlint.ExprNode, error) {
	// The parser needs the closing braces the lexer stops at.
	node, perr := actionlint.NewExprParser().Parse(actionlint.NewExprLexer(src + "}}"))
	if perr != nil {
		return nil, fmt.Errorf("%w %q: %s (column %d)", ErrExpr, src, perr.Message, perr.Column)
	}
	return node, nil
}

func evalExpr(src string, s Scope) (any, error) {
	node, err := parseExpr(src)
	if err != nil {
		return nil, err
	}
	v, err := (&evaluator{scope: s}).eval(node)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrExpr, src, err)
	}
	return v, nil
}

func callsStatusFunc(n actionlint.ExprNode) bool {
	found := false
	actionlint.VisitExprNode(n, func(node, _ actionlint.ExprNode, entering bool) {
		if c, ok := node.(*actionlint.FuncCallNode); ok && entering {
			switch strings.ToLower(c.Callee) {
			case "success", "failure", "always", "cancelled":
				found = true
			}
		}
	})
	return found
}

type evaluator struct{ scope Scope }

// filtered marks the result of a '*' dereference: the next property access
// maps over its elements, as GitHub's object filters do.
type filtered []any

func (e *evaluator) eval(n actionlint.ExprNode) (any, error) {
	switch n := n.(type) {
	case *actionlint.NullNode:
		return nil, nil
	case *actionlint.BoolNode:
		return n.Value, nil
	case *actionlint.IntNode:
		return float64(n.Value), nil
	case *actionlint.FloatNode:
		return n.Value, nil
	case *actionlint.StringNode:
		return n.Value, nil
	case *actionlint.VariableNode:
		return lookup(e.scope.Contexts, n.Name), nil
	case *actionlint.ObjectDerefNode:
		recv, err := e.eval(n.Receiver)
		if err != nil {
			return nil, err
		}
		if f, ok := recv.(filtered); ok {
			out := filtered{}
			for _, el := range f {
				if v := lookup(el, n.Property); v != nil {
					out = append(out, v)
				}
			}
			return out, nil
		}
		return lookup(recv, n.Property), nil
	case *actionlint.ArrayDerefNode:
		recv, err := e.eval(n.Receiver)
		if err != nil {
			return nil, err
		}
		return filter(recv), nil
	case *actionlint.IndexAccessNode:
		recv, err := e.eval(n.Operand)
		if err != nil {
			return nil, err
		}
		idx, err := e.eval(n.Index)
		if err != nil {
			return nil, err
		}
		return index(recv, idx), nil
	case *actionlint.NotOpNode:
		v, err := e.eval(n.Operand)
		if err != nil {
			return nil, err
		}
		return !Truthy(v), nil
	case *actionlint.LogicalOpNode:
		l, err := e.eval(n.Left)
		if err != nil {
			return nil, err
		}
		// && and || return an operand, not a boolean, and short-circuit.
		switch n.Kind {
		case actionlint.LogicalOpNodeKindAnd:
			if !Truthy(l) {
				return l, nil
			}
		case actionlint.LogicalOpNodeKindOr:
			if Truthy(l) {
				return l, nil
			}
		default:
			return nil, fmt.Errorf("unknown logical operator %v", n.Kind)
		}
		return e.eval(n.Right)
	case *actionlint.CompareOpNode:
		l, err := e.eval(n.Left)
		if err != nil {
			return nil, err
		}
		r, err := e.eval(n.Right)
		if err != nil {
			return nil, err
		}
		return compare(n.Kind, l, r)
	case *actionlint.FuncCallNode:
		return e.call(n)
	}
	return nil, fmt.Errorf("unsupported expression node %T", n)
}

func (e *evaluator) call(n *actionlint.FuncCallNode) (any, error) {
	name := strings.ToLower(n.Callee)
	switch name {
	case "success":
		return e.scope.Status.succeeded(), nil
	case "failure":
		return e.scope.Status.Failed, nil
	case "cancelled":
		return e.scope.Status.Cancelled, nil
	case "always":
		return true, nil
	}
	args := make([]any, len(n.Args))
	for i, a := range n.Args {
		v, err := e.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	want := map[string]int{"contains": 2, "startswith": 2, "endswith": 2, "tojson": 1, "fromjson": 1}
	if k, ok := want[name]; ok && len(args) != k {
		return nil, fmt.Errorf("%s() takes %d arguments, got %d", n.Callee, k, len(args))
	}
	switch name {
	case "contains":
		if arr, ok := asArray(args[0]); ok {
			for _, el := range arr {
				if looseEqual(el, args[1]) {
					return true, nil
				}
			}
			return false, nil
		}
		return strings.Contains(strings.ToLower(ToString(args[0])), strings.ToLower(ToString(args[1]))), nil
	case "startswith":
		return strings.HasPrefix(strings.ToLower(ToString(args[0])), strings.ToLower(ToString(args[1]))), nil
	case "endswith":
		return strings.HasSuffix(strings.ToLower(ToString(args[0])), strings.ToLower(ToString(args[1]))), nil
	case "format":
		if len(args) == 0 {
			return nil, errors.New("format() needs a format string")
		}
		return format(ToString(args[0]), args[1:])
	case "join":
		if len(args) < 1 || len(args) > 2 {
			return nil, fmt.Errorf("join() takes 1 or 2 arguments, got %d", len(args))
		}
		sep := ","
		if len(args) == 2 {
			sep = ToString(args[1])
		}
		arr, ok := asArray(args[0])
		if !ok {
			return ToString(args[0]), nil
		}
		s := make([]string, len(arr))
		for i, el := range arr {
			s[i] = ToString(el)
		}
		return strings.Join(s, sep), nil
	case "tojson":
		b, err := json.MarshalIndent(args[0], "", "  ")
		if err != nil {
			return nil, fmt.Errorf("toJSON: %w", err)
		}
		return string(b), nil
	case "fromjson":
		var v any
		if err := json.Unmarshal([]byte(ToString(args[0])), &v); err != nil {
			return nil, fmt.Errorf("fromJSON(%q): %w", ToString(args[0]), err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("function %s() is not supported by this evaluator", n.Callee)
}

func format(f string, args []any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("format(%q): unclosed {", f)
			}
			k, err := strconv.Atoi(f[i+1 : i+end])
			if err != nil || k < 0 || k >= len(args) {
				return "", fmt.Errorf("format(%q): bad placeholder %q", f, f[i:i+end+1])
			}
			b.WriteString(ToString(args[k]))
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// lookup reads a property, case-insensitively as GitHub does; anything
// missing is null.
func lookup(v any, key string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if x, ok := m[key]; ok {
		return x
	}
	for k, x := range m {
		if strings.EqualFold(k, key) {
			return x
		}
	}
	return nil
}

func index(v, idx any) any {
	if arr, ok := asArray(v); ok {
		f, ok := idx.(float64)
		if !ok || f != math.Trunc(f) || f < 0 || int(f) >= len(arr) {
			return nil
		}
		return arr[int(f)]
	}
	return lookup(v, ToString(idx))
}

func filter(v any) filtered {
	switch v := v.(type) {
	case []any:
		return filtered(v)
	case filtered:
		out := filtered{}
		for _, el := range v {
			out = append(out, filter(el)...)
		}
		return out
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(filtered, 0, len(keys))
		for _, k := range keys {
			out = append(out, v[k])
		}
		return out
	}
	return filtered{}
}

func asArray(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case filtered:
		return []any(v), true
	}
	return nil, false
}

// Truthy is GitHub's coercion to boolean: false, 0, -0, "", null and NaN
// are false; everything else (including "false" and objects) is true.
func Truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	}
	return true
}

// ToString is GitHub's coercion of a value to a string.
func ToString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case float64:
		if math.IsNaN(v) {
			return "NaN"
		}
		if math.IsInf(v, 0) {
			if v > 0 {
				return "Infinity"
			}
			return "-Infinity"
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	case filtered:
		return "Array"
	case []any:
		return "Array"
	case map[string]any:
		return "Object"
	}
	return fmt.Sprint(v)
}

// toNumber is GitHub's coercion to a number: null 0, true 1, false 0, a
// string parsed as a number ("" is 0, anything unparsable NaN), objects NaN.
func toNumber(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0
		}
		if strings.HasPrefix(s, "0x") {
			if n, err := strconv.ParseInt(s[2:], 16, 64); err == nil {
				return float64(n)
			}
			return math.NaN()
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || strings.ContainsAny(s, "_") {
			return math.NaN()
		}
		return f
	}
	return math.NaN()
}

func isObject(v any) bool {
	switch v.(type) {
	case map[string]any, []any, filtered:
		return true
	}
	return false
}

// looseEqual is GitHub's ==: strings compare ignoring case; values of
// different primitive types are compared as numbers; objects and arrays are
// equal only to themselves.
func looseEqual(a, b any) bool {
	if isObject(a) || isObject(b) {
		return sameObject(a, b)
	}
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.EqualFold(as, bs)
	}
	if a == nil && b == nil {
		return true
	}
	ab, aIsBool := a.(bool)
	bb, bIsBool := b.(bool)
	if aIsBool && bIsBool {
		return ab == bb
	}
	return toNumber(a) == toNumber(b)
}

func sameObject(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		return ok && fmt.Sprintf("%p", a) == fmt.Sprintf("%p", bm)
	case []any:
		ba, ok := b.([]any)
		return ok && len(a) > 0 && len(ba) > 0 && &a[0] == &ba[0]
	}
	return false
}

func compare(kind actionlint.CompareOpNodeKind, l, r any) (bool, error) {
	switch kind {
	case actionlint.CompareOpNodeKindEq:
		return looseEqual(l, r), nil
	case actionlint.CompareOpNodeKindNotEq:
		return !looseEqual(l, r), nil
	}
	var c int
	ls, lok := l.(string)
	rs, rok := r.(string)
	if lok && rok {
		c = strings.Compare(strings.ToLower(ls), strings.ToLower(rs))
	} else {
		a, b := toNumber(l), toNumber(r)
		if math.IsNaN(a) || math.IsNaN(b) {
			return false, nil
		}
		switch {
		case a < b:
			c = -1
		case a > b:
			c = 1
		}
	}
	switch kind {
	case actionlint.CompareOpNodeKindLess:
		return c < 0, nil
	case actionlint.CompareOpNodeKindLessEq:
		return c <= 0, nil
	case actionlint.CompareOpNodeKindGreater:
		return c > 0, nil
	case actionlint.CompareOpNodeKindGreaterEq:
		return c >= 0, nil
	}
	return false, fmt.Errorf("unknown comparison %v", kind)
}
