//go:build !unix

package cputime

import "time"

// Process returns 0: this system has no getrusage, so the CPU time is unknown.
func Process() time.Duration { return 0 }
