package loadgen

import "errors"

// Sentinel errors. Every error a caller might act on wraps one of these, so a command line
// tool can tell bad input (exit 2) from a failed run (exit 1) with errors.Is.
var (
	// ErrInvalidConfig marks a Config, schedule, workload or flag value that cannot be used.
	ErrInvalidConfig = errors.New("invalid load configuration")
	// ErrBadSchedule marks a schedule specification that does not parse or has a rate <= 0.
	ErrBadSchedule = errors.New("bad schedule")
	// ErrBadWorkload marks a workload specification that does not parse.
	ErrBadWorkload = errors.New("bad workload")
	// ErrBadSLO marks an SLO threshold that does not parse.
	ErrBadSLO = errors.New("bad SLO")
	// ErrUnknownTarget marks a target address whose scheme no Target implements.
	ErrUnknownTarget = errors.New("unknown target")
	// ErrHostNotAllowed marks a target host that is neither loopback nor explicitly allowed.
	ErrHostNotAllowed = errors.New("host not allowed")
	// ErrUnreachable marks a target that could not be reached before the load started.
	ErrUnreachable = errors.New("target unreachable")
	// ErrSLOMissed is returned when a run finished but at least one SLO was not met.
	ErrSLOMissed = errors.New("SLO missed")
)
