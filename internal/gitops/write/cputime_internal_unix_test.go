//go:build unix

package write

import (
	"syscall"
	"time"
)

// procCPU is the CPU time (user + system) of this process and of every
// git process it waited for (as cpuTime of the package's external
// tests): what a loaded machine disturbs least.
func procCPU() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
