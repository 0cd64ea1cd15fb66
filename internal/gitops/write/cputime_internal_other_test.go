//go:build !unix

package write

import "time"

// procCPU is not measured here: the benchmarks report wall time only.
func procCPU() time.Duration { return 0 }
