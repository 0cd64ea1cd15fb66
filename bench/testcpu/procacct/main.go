// Command procacct says where the CPU of a command went, by process: it
// reads a Linux process-accounting file (acct(5), version 3, as written by
// accton from Debian's acct package) and charges every process's user and
// system time to its nearest ancestor that is a test binary (a name ending
// in .test, or cut to 15 bytes from one) or golangci-lint, and within that
// to the process's own name. make test's "where the CPU went" counts only
// the processes a test binary waited for; this sees every process, the
// compiles and links of go test included, and names the child that costs:
// kube-apiserver, compile, govulncheck, git.
//
//	procacct FILE [TOP]
//
// bench/testcpu/by-process.sh runs a command with accounting on and calls it.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// record is one process as acct(5) v3 writes it when the process exits.
type record struct {
	comm       string
	pid, ppid  uint32
	start, end float64 // seconds since the epoch; start has 1 s resolution
	cpu        float64 // user + system seconds
}

// acctV3 is struct acct_v3 of <linux/acct.h>: 64 bytes, native byte order.
type acctV3 struct {
	Flag     uint8
	Version  uint8
	TTY      uint16
	Exitcode uint32
	UID, GID uint32
	PID      uint32
	PPID     uint32
	Btime    uint32
	Etime    float32 // in AHZ ticks
	Utime    uint16  // comp_t, AHZ ticks
	Stime    uint16
	Mem      uint16
	IO       uint16
	RW       uint16
	Minflt   uint16
	Majflt   uint16
	Swaps    uint16
	Comm     [16]byte
}

// ahz is the kernel's accounting clock (AHZ), 100 on Linux.
const ahz = 100

// compT decodes a comp_t: a 13-bit mantissa and a 3-bit base-8 exponent.
func compT(v uint16) float64 {
	return float64(v&0x1fff) * math.Pow(8, float64(v>>13))
}

func read(r io.Reader) ([]record, error) {
	var recs []record
	for {
		var a acctV3
		if err := binary.Read(r, binary.NativeEndian, &a); errors.Is(err, io.EOF) {
			return recs, nil
		} else if err != nil {
			return nil, fmt.Errorf("record %d: %w", len(recs)+1, err)
		}
		if a.Version&0x0f != 3 {
			return nil, fmt.Errorf("record %d: version %d; procacct reads version 3 (Linux's)", len(recs)+1, a.Version&0x0f)
		}
		comm := string(a.Comm[:])
		if i := strings.IndexByte(comm, 0); i >= 0 {
			comm = comm[:i]
		}
		start := float64(a.Btime)
		recs = append(recs, record{comm: comm, pid: a.PID, ppid: a.PPID, start: start,
			end: start + float64(a.Etime)/ahz, cpu: (compT(a.Utime) + compT(a.Stime)) / ahz})
	}
}

// parents returns, for each record, the index of its parent, or -1. PIDs
// are reused over a long run, so the parent is the process with that PID
// that was alive when the child started (start times have a resolution of
// a second) and, of those, the one that started last.
func parents(recs []record) []int {
	byPID := map[uint32][]int{}
	for i, r := range recs {
		byPID[r.pid] = append(byPID[r.pid], i)
	}
	out := make([]int, len(recs))
	for i, r := range recs {
		out[i] = -1
		for _, j := range byPID[r.ppid] {
			p := recs[j]
			if j != i && p.start <= r.start+1 && p.end+1 >= r.start && (out[i] < 0 || p.start > recs[out[i]].start) {
				out[i] = j
			}
		}
	}
	return out
}

// owner is the label a process's CPU is charged to.
func owner(comm string) bool {
	return strings.HasSuffix(comm, ".test") || (len(comm) == 15 && strings.Contains(comm, ".tes")) || comm == "golangci-lint"
}

type usage struct {
	owner string
	cpu   float64
	by    map[string]float64
}

// attribute charges each record to its nearest owner ancestor (itself
// included), "(outside tests)" when it has none.
func attribute(recs []record) []usage {
	par := parents(recs)
	by := map[string]*usage{}
	for i, r := range recs {
		label := "(outside tests)"
		for j, depth := i, 0; j >= 0 && depth < 64; j, depth = par[j], depth+1 {
			if owner(recs[j].comm) {
				label = recs[j].comm
				break
			}
		}
		u := by[label]
		if u == nil {
			u = &usage{owner: label, by: map[string]float64{}}
			by[label] = u
		}
		u.cpu += r.cpu
		u.by[r.comm] += r.cpu
	}
	out := make([]usage, 0, len(by))
	for _, u := range by {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].cpu > out[j].cpu })
	return out
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: procacct ACCOUNTING-FILE [TOP]")
		os.Exit(2)
	}
	top := 25
	if len(os.Args) == 3 {
		n, err := strconv.Atoi(os.Args[2])
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "procacct: TOP %q is not a positive number\n", os.Args[2])
			os.Exit(2)
		}
		top = n
	}
	f, err := os.Open(os.Args[1]) //nolint:gosec // G703: the accounting file the user names
	if err != nil {
		fmt.Fprintf(os.Stderr, "procacct: %v\n", err)
		os.Exit(2)
	}
	defer f.Close()
	recs, err := read(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "procacct: %s: %v\n", os.Args[1], err)
		os.Exit(2)
	}
	var total float64
	cmds := map[string]float64{}
	runs := map[string]int{}
	for _, r := range recs {
		total += r.cpu
		cmds[r.comm] += r.cpu
		runs[r.comm]++
	}
	// How many processes as well as their CPU: a command whose cost is
	// starting it (git, smpctl) is cut by running it less, not faster.
	fmt.Printf("%d processes, %.0f CPU-s (user+sys)\n\nby command (CPU-s, processes, ms each):\n", len(recs), total)
	for _, kv := range most(cmds, top) {
		fmt.Printf("%8.1f %7d %7.1f  %s\n", kv.v, runs[kv.k], 1000*kv.v/float64(runs[kv.k]), kv.k)
	}
	fmt.Printf("\nby test binary (each process charged to its nearest *.test or golangci-lint ancestor):\n")
	for i, u := range attribute(recs) {
		if i == top {
			break
		}
		var parts []string
		for _, kv := range most(u.by, 8) {
			parts = append(parts, fmt.Sprintf("%s %.0f", kv.k, kv.v))
		}
		fmt.Printf("%8.1f  %-16s %s\n", u.cpu, u.owner, strings.Join(parts, ", "))
	}
}

type kv struct {
	k string
	v float64
}

func most(m map[string]float64, n int) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].v > out[j].v || (out[i].v == out[j].v && out[i].k < out[j].k) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}
