//go:build unix

package write

import (
	"syscall"
	"time"
)

// ProcCPU is the CPU time (user + system) of this process and of every
// git process it waited for: what a loaded machine disturbs least. It is
// exported for the package's external benchmarks (bench_test.go); it
// exists in test builds only.
func ProcCPU() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
