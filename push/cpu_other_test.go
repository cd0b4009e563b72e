//go:build !unix

package push_test

import "time"

// processCPU is not measured here: BenchmarkIdleCPU reports 0.
func processCPU() time.Duration { return 0 }
