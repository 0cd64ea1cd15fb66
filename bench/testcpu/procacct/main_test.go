package main

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestCompTDecodesMantissaAndBase8Exponent(t *testing.T) {
	for in, want := range map[uint16]float64{0: 0, 7: 7, 0x1fff: 8191, 1<<13 | 3: 24, 2<<13 | 5: 320} {
		if got := compT(in); got != want {
			t.Errorf("compT(%#x) = %v, want %v", in, got, want)
		}
	}
}

// rec encodes one acct_v3 record.
func rec(t *testing.T, w *bytes.Buffer, comm string, pid, ppid, btime uint32, etimeTicks float32, utime uint16) {
	t.Helper()
	a := acctV3{Version: 3, PID: pid, PPID: ppid, Btime: btime, Etime: etimeTicks, Utime: utime}
	copy(a.Comm[:], comm)
	if err := binary.Write(w, binary.NativeEndian, &a); err != nil {
		t.Fatal(err)
	}
}

// A compile's CPU goes to the test binary that ran the go build above it,
// even when its PID was used before by a process of another test binary.
func TestCPUIsChargedToTheNearestTestBinaryAcrossReusedPIDs(t *testing.T) {
	var b bytes.Buffer
	// Written in exit order, as the kernel does. PID 30 is a go command
	// under a.test at t=100..110, then reused at t=200 under b.test.
	rec(t, &b, "compile", 31, 30, 101, 100, 300) // 3 s, under a.test's go
	rec(t, &b, "go", 30, 20, 100, 1000, 50)
	rec(t, &b, "a.test", 20, 1, 99, 2000, 100)
	rec(t, &b, "compile", 32, 30, 201, 100, 700) // 7 s, under b.test's go
	rec(t, &b, "go", 30, 21, 200, 1000, 50)
	rec(t, &b, "kubecluster.tes", 21, 1, 199, 2000, 100)
	rec(t, &b, "make", 2, 1, 90, 30000, 10)
	recs, err := read(&b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, u := range attribute(recs) {
		got[u.owner] = u.cpu
	}
	want := map[string]float64{"a.test": 4.5, "kubecluster.tes": 8.5, "(outside tests)": 0.1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v CPU-s, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestAFileOfAnotherFormatIsRefused(t *testing.T) {
	var b bytes.Buffer
	a := acctV3{Version: 2}
	if err := binary.Write(&b, binary.NativeEndian, &a); err != nil {
		t.Fatal(err)
	}
	if _, err := read(&b); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("read of a version 2 record: %v, want an error naming the version", err)
	}
	if _, err := read(strings.NewReader("short")); err == nil {
		t.Fatal("read of a truncated record: no error")
	}
}
