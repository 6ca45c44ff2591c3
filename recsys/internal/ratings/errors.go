package ratings

import (
	"errors"
	"fmt"
)

// ErrMalformed marks every input the loader refuses; a *LineError also matches the kind
// below that says why.
var ErrMalformed = errors.New("malformed ratings")

// Kinds of malformed input. A *LineError matches ErrMalformed and exactly one of these.
var (
	ErrLayout      = errors.New("unknown layout")
	ErrHeader      = errors.New("bad header")
	ErrFieldCount  = errors.New("wrong field count")
	ErrID          = errors.New("bad id")
	ErrRating      = errors.New("bad rating")
	ErrRatingRange = errors.New("rating out of range")
	ErrTimestamp   = errors.New("bad timestamp")
	ErrDuplicate   = errors.New("duplicate (user, item) pair")
	ErrBlankLine   = errors.New("blank line before the end")
	ErrLineLength  = errors.New("line too long")
)

// ErrEmpty is returned for an input that holds no rating at all (an empty file, or a CSV
// header alone): an evaluation on nothing is always a mistake upstream.
var ErrEmpty = errors.New("no ratings")

// LineError says which line of which file the loader refused and why.
type LineError struct {
	File   string // the name given to Load
	Line   int    // 1-based physical line
	Kind   error  // one of ErrLayout … ErrLineLength
	Reason string // the offending text and what was expected
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %v: %s", e.File, e.Line, e.Kind, e.Reason)
}

// Unwrap makes errors.Is match both ErrMalformed and the kind.
func (e *LineError) Unwrap() []error { return []error{ErrMalformed, e.Kind} }
