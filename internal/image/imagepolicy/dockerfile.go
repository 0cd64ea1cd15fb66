// Package imagepolicy checks image references and Dockerfiles against SMP's
// container image policy (docs/seed.md §15, docs/design.md §2.2): bases are distroless
// or alpine and pinned by digest, the runtime user is not root, no
// `latest`, images come from an allowed registry (ghcr.io/smp/…), and prod
// images are signed (checked by the caller with package signing).
//
// Findings are data, not errors: a check returns every violation with where
// it is and how to fix it, and the caller decides the exit code.
package imagepolicy

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/smp/delivery/internal/fault"
)

// ErrBadInput marks input that cannot be checked at all (exit 2).
var ErrBadInput = fault.Invalidf("invalid policy input")

// Instruction is one Dockerfile instruction after joining continuation lines.
type Instruction struct {
	Line int    // 1-based line where it starts
	Cmd  string // upper case: FROM, USER, COPY, ARG, ...
	Args string // the rest, trimmed
}

// ParseDockerfile splits a Dockerfile into instructions: comments and blank
// lines are dropped, lines ending in the escape character are joined
// (the `# escape=` directive is honoured), and heredoc bodies are skipped.
func ParseDockerfile(b []byte) ([]Instruction, error) {
	escape := byte('\\')
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	var out []Instruction
	var cur strings.Builder
	start, n := 0, 0
	directives := true
	heredoc := ""
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if heredoc != "" {
			if trimmed == heredoc {
				heredoc = ""
			}
			continue
		}
		if directives && strings.HasPrefix(trimmed, "#") {
			k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(trimmed, "#")), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "escape") {
				switch strings.TrimSpace(v) {
				case "`":
					escape = '`'
				case "\\":
					escape = '\\'
				default:
					return nil, fmt.Errorf("%w: line %d: escape directive must be \\ or `", ErrBadInput, n)
				}
			}
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		directives = false
		if cur.Len() == 0 {
			start = n
		}
		if len(trimmed) > 0 && trimmed[len(trimmed)-1] == escape {
			cur.WriteString(trimmed[:len(trimmed)-1])
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, instruction(start, cur.String()))
		cur.Reset()
		if i := strings.Index(trimmed, "<<"); i >= 0 {
			if word := heredocWord(trimmed[i+2:]); word != "" {
				heredoc = word
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: read Dockerfile: %w", ErrBadInput, err)
	}
	if cur.Len() > 0 {
		out = append(out, instruction(start, cur.String()))
	}
	if heredoc != "" {
		return nil, fmt.Errorf("%w: heredoc <<%s is never closed", ErrBadInput, heredoc)
	}
	return out, nil
}

func instruction(line int, s string) Instruction {
	cmd, args, _ := strings.Cut(s, " ")
	return Instruction{Line: line, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
}

// heredocWord reads the delimiter of `<<EOF`, `<<-EOF` or `<<"EOF"`.
func heredocWord(s string) string {
	fields := strings.Fields(strings.TrimPrefix(s, "-"))
	if len(fields) == 0 {
		return ""
	}
	s = strings.Trim(fields[0], `"'`)
	for _, c := range s {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return ""
		}
	}
	return s
}

// Stage is one FROM of a Dockerfile and the user it ends with.
type Stage struct {
	Line     int
	Base     string // after ARG substitution
	Name     string // AS name, lower case
	Platform string
	User     string // last USER, "" when none
	UserLine int
	Copies   []Instruction // COPY --from=... instructions
}

// Stages reads the build stages, substituting ARGs declared before the
// first FROM ($NAME, ${NAME}, ${NAME:-default}).
func Stages(ins []Instruction) ([]Stage, error) {
	args := map[string]string{}
	var stages []Stage
	for _, in := range ins {
		switch in.Cmd {
		case "ARG":
			if len(stages) == 0 {
				for _, f := range strings.Fields(in.Args) {
					k, v, _ := strings.Cut(f, "=")
					args[k] = strings.Trim(v, `"'`)
				}
			}
		case "FROM":
			fields := strings.Fields(in.Args)
			s := Stage{Line: in.Line}
			var rest []string
			for _, f := range fields {
				if strings.HasPrefix(f, "--platform=") {
					s.Platform = strings.TrimPrefix(f, "--platform=")
					continue
				}
				rest = append(rest, f)
			}
			if len(rest) == 0 {
				return nil, fmt.Errorf("%w: line %d: FROM without an image", ErrBadInput, in.Line)
			}
			s.Base = expand(rest[0], args)
			if len(rest) >= 3 && strings.EqualFold(rest[1], "as") {
				s.Name = strings.ToLower(rest[2])
			}
			stages = append(stages, s)
		case "USER":
			if len(stages) == 0 {
				return nil, fmt.Errorf("%w: line %d: USER before any FROM", ErrBadInput, in.Line)
			}
			stages[len(stages)-1].User = strings.TrimSpace(in.Args)
			stages[len(stages)-1].UserLine = in.Line
		case "COPY", "ADD":
			if len(stages) > 0 && strings.Contains(in.Args, "--from=") {
				stages[len(stages)-1].Copies = append(stages[len(stages)-1].Copies, in)
			}
		}
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%w: no FROM instruction: not a Dockerfile", ErrBadInput)
	}
	return stages, nil
}

func expand(s string, args map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		var name, def string
		from := i
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				break
			}
			name = s[i+2 : i+end]
			name, def, _ = strings.Cut(name, ":-")
			i += end
		} else {
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			name = s[i+1 : j]
			i = j - 1
		}
		switch v := args[name]; {
		case v != "":
			b.WriteString(v)
		case def != "":
			b.WriteString(def)
		default:
			b.WriteString(s[from : i+1]) // unset: keep $NAME so the check can say so
		}
	}
	return b.String()
}
