package vulnscan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// ErrScanFailed marks a scan that could not run: never a pass (exit 1).
var ErrScanFailed = fault.Refusedf("vulnerability scan could not run")

// Severity levels, in order.
var severities = []string{"low", "medium", "high", "critical"}

// ParseSeverity accepts low, medium (or moderate), high, critical.
func ParseSeverity(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "moderate" {
		s = "medium"
	}
	for i, v := range severities {
		if v == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: severity %q: use low, medium, high or critical", ErrBadInput, s)
}

// Options say what to scan and when to fail.
type Options struct {
	// Dir is the module (or package directory) to scan; Patterns default ./...
	Dir      string
	Patterns []string
	// DB is the database to use.
	DB *DB
	// Govulncheck is the command (default "govulncheck" on PATH).
	Govulncheck string
	// FailOn is the minimum severity that fails (index into low..critical).
	FailOn int
	// Unknown is the severity given to entries without one (Go's database
	// has none; default critical).
	Unknown int
	// Timeout bounds the run (default 10 minutes).
	Timeout time.Duration
}

// Vuln is one vulnerability govulncheck found.
type Vuln struct {
	ID        string   `json:"id"`
	Aliases   []string `json:"aliases,omitempty"`
	Summary   string   `json:"summary"`
	Severity  string   `json:"severity"`
	Known     bool     `json:"severityKnown"`
	Reachable bool     `json:"reachable"`
	Module    string   `json:"module"`
	Version   string   `json:"version"`
	Fixed     string   `json:"fixed,omitempty"`
	Symbol    string   `json:"symbol,omitempty"`
	Position  string   `json:"position,omitempty"`
	Fails     bool     `json:"fails"`
}

// Report is the outcome of a scan.
type Report struct {
	DB          DB     `json:"db"`
	Scanner     string `json:"scanner"`
	GoVersion   string `json:"goVersion"`
	FailOn      string `json:"failOn"`
	Unknown     string `json:"unknownSeverity"`
	Vulns       []Vuln `json:"vulns"`
	Failing     int    `json:"failing"`
	Unreachable int    `json:"unreachable"`
}

// message is one object of govulncheck's -format json stream.
type message struct {
	Config *struct {
		ScannerName    string `json:"scanner_name"`
		ScannerVersion string `json:"scanner_version"`
		GoVersion      string `json:"go_version"`
	} `json:"config"`
	OSV *struct {
		ID      string   `json:"id"`
		Aliases []string `json:"aliases"`
		Summary string   `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
			Position *struct {
				Filename string `json:"filename"`
				Line     int    `json:"line"`
			} `json:"position"`
		} `json:"trace"`
	} `json:"finding"`
}

// Scan runs govulncheck (source mode, symbol level) and judges its findings.
func Scan(ctx context.Context, o Options) (*Report, error) {
	if o.DB == nil {
		return nil, fmt.Errorf("%w: no database", ErrBadInput)
	}
	if o.Govulncheck == "" {
		o.Govulncheck = "govulncheck"
	}
	if len(o.Patterns) == 0 {
		o.Patterns = []string{"./..."}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	bin, err := exec.LookPath(o.Govulncheck)
	if err != nil {
		return nil, fmt.Errorf("%w: %s not found (%w): install it with scripts/tools.sh govulncheck", ErrScanFailed, o.Govulncheck, err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	args := append([]string{"-db", o.DB.URL(), "-format", "json", "-scan", "symbol"}, o.Patterns...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = o.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: govulncheck in %s: %w: %s", ErrScanFailed, o.Dir, err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	rep := &Report{DB: *o.DB}
	type osvInfo struct {
		aliases []string
		summary string
	}
	osvs := map[string]osvInfo{}
	byID := map[string]*Vuln{}
	dec := json.NewDecoder(bufio.NewReader(&stdout))
	sawConfig := false
	for dec.More() {
		var m message
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%w: read govulncheck output: %w", ErrScanFailed, err)
		}
		switch {
		case m.Config != nil:
			sawConfig = true
			rep.Scanner = m.Config.ScannerName + " " + m.Config.ScannerVersion
			rep.GoVersion = m.Config.GoVersion
		case m.OSV != nil:
			osvs[m.OSV.ID] = osvInfo{aliases: m.OSV.Aliases, summary: m.OSV.Summary}
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := m.Finding
			v := byID[f.OSV]
			if v == nil {
				v = &Vuln{ID: f.OSV, Module: f.Trace[0].Module, Version: f.Trace[0].Version, Fixed: f.FixedVersion}
				byID[f.OSV] = v
			}
			if top := f.Trace[0]; top.Function != "" && !v.Reachable {
				v.Reachable = true
				v.Symbol = top.Package + "." + top.Function
				if top.Receiver != "" {
					v.Symbol = top.Package + "." + top.Receiver + "." + top.Function
				}
				if last := f.Trace[len(f.Trace)-1]; last.Position != nil {
					v.Position = fmt.Sprintf("%s:%d", last.Position.Filename, last.Position.Line)
				}
			}
		}
	}
	if !sawConfig {
		return nil, fmt.Errorf("%w: govulncheck wrote no configuration message: %s", ErrScanFailed, strings.TrimSpace(stderr.String()))
	}
	for _, v := range byID {
		info := osvs[v.ID]
		v.Aliases, v.Summary = info.aliases, info.summary
		// govulncheck's OSV type drops fields it does not know; read the
		// severity from the database entry itself.
		if sev := o.DB.severity(v.ID); sev != "" {
			if level, err := ParseSeverity(sev); err == nil {
				v.Severity, v.Known = severities[level], true
			}
		}
		rep.Vulns = append(rep.Vulns, *v)
	}
	rep.Judge(o.FailOn, o.Unknown)
	return rep, nil
}

// Judge applies the gate: a vulnerability fails when it is reachable and
// its severity (unknown ones counted as unknown) is at least failOn.
func (r *Report) Judge(failOn, unknown int) {
	r.FailOn, r.Unknown = severities[failOn], severities[unknown]
	r.Failing, r.Unreachable = 0, 0
	for i := range r.Vulns {
		v := &r.Vulns[i]
		level := unknown
		if v.Known {
			level, _ = ParseSeverity(v.Severity)
		} else {
			v.Severity = "unknown"
		}
		v.Fails = v.Reachable && level >= failOn
		if v.Fails {
			r.Failing++
		}
		if !v.Reachable {
			r.Unreachable++
		}
	}
	sort.Slice(r.Vulns, func(i, j int) bool {
		if r.Vulns[i].Fails != r.Vulns[j].Fails {
			return r.Vulns[i].Fails
		}
		return r.Vulns[i].ID < r.Vulns[j].ID
	})
}
