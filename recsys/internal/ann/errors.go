package ann

import (
	"errors"
	"fmt"
)

// Sentinel errors; callers match them with errors.Is.
var (
	// ErrDuplicateID means Add was given an id the index already holds.
	ErrDuplicateID = errors.New("id already in the index")
	// ErrDimMismatch means a vector's length is not the index's Dim.
	ErrDimMismatch = errors.New("vector dimension mismatch")
	// ErrInvalidVector means a vector is all zeros or holds NaN or ±Inf, so it has no
	// direction to compare by cosine.
	ErrInvalidVector = errors.New("vector is zero or not finite")
	// ErrInvalidConfig means a configuration failed validation.
	ErrInvalidConfig = errors.New("invalid ann configuration")
	// ErrCorrupt means a serialised index is truncated, of another format or version, or
	// fails its checksum or consistency checks.
	ErrCorrupt = errors.New("corrupt ann index artifact")
	// ErrInvalidArgument means a helper (Recall, a data generator) got an argument out of
	// range.
	ErrInvalidArgument = errors.New("invalid argument")
)

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
