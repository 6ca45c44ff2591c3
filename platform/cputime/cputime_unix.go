//go:build unix

package cputime

import (
	"syscall"
	"time"
)

// Process returns the user and system CPU time used so far by this process. Take it
// before and after a piece of work and divide the difference by the work done. It returns
// 0 where the kernel will not say (getrusage does not fail on Linux for RUSAGE_SELF; see
// cputime_other.go for systems without it).
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
