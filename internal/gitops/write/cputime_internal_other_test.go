//go:build !unix

package write

import "time"

// ProcCPU is not measured here: the benchmarks report wall time only.
func ProcCPU() time.Duration { return 0 }
