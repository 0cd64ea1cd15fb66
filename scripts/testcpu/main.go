// Command testcpu is make test's `go test -exec` wrapper: it runs a test
// binary as go test would and appends the CPU time that binary and every
// process it started and waited for used (user and system, from the
// kernel's rusage at wait) to the file named by $SMP_TEST_CPU, one JSON
// line per binary. scripts/test.sh sums them per package, so the end of a
// run says where the CPU went: in the tests, or in compiling, linking and
// lint (the rest of the run's total).
//
// Signals go test sends (SIGQUIT at its timeout, SIGINT on ^C) are passed
// on to the binary, and the binary's exit code is returned as its own.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// record is one line of $SMP_TEST_CPU.
type record struct {
	Binary string  `json:"binary"` // the test binary's name: <package>.test
	Dir    string  `json:"dir"`    // the package's directory (go test runs there)
	User   float64 `json:"user"`   // seconds
	Sys    float64 `json:"sys"`    // seconds
	MaxRSS int64   `json:"max_rss_kib"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testcpu TEST-BINARY [ARGS...] (as go test -exec)")
		os.Exit(2)
	}
	// Running the program it is given is this wrapper's job (go test -exec).
	// No context: the binary ends itself (-test.timeout) or by the signals
	// passed on below, as it would without the wrapper.
	cmd := exec.CommandContext(context.Background(), os.Args[1], os.Args[2:]...) //nolint:gosec // G702: the argument is go test's own test binary

	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testcpu: %v\n", err)
		os.Exit(1)
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	_ = cmd.Wait()
	st := cmd.ProcessState
	if out := os.Getenv("SMP_TEST_CPU"); out != "" {
		if err := appendRecord(out, st); err != nil {
			fmt.Fprintf(os.Stderr, "testcpu: %v\n", err)
		}
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(st.ExitCode())
}

// appendRecord appends st's CPU to the file out. Lines are short and
// written with one write to a file opened O_APPEND, so the suites' parallel
// binaries never interleave within a line.
func appendRecord(out string, st *os.ProcessState) error {
	wd, _ := os.Getwd()
	r := record{
		Binary: filepath.Base(os.Args[1]),
		Dir:    wd,
		User:   st.UserTime().Round(time.Millisecond).Seconds(),
		Sys:    st.SystemTime().Round(time.Millisecond).Seconds(),
	}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSS = ru.Maxrss
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600) //nolint:gosec // G703: the file make test names in $SMP_TEST_CPU
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
