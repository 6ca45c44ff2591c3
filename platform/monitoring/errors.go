package monitoring

import (
	"errors"

	"github.com/casebook-ml/casebook/platform/predlog"
)

// Sentinel errors; wrapped errors carry the details, match them with errors.Is.
var (
	// ErrInvalidConfig is returned by Validate and by constructors given a bad config.
	ErrInvalidConfig = errors.New("monitoring: invalid config")
	// ErrEmptySample is returned when a reference or a window has no values to compare.
	ErrEmptySample = errors.New("monitoring: empty sample")
	// ErrKindMismatch is returned when a numeric method is asked of a categorical
	// reference or the other way round.
	ErrKindMismatch = errors.New("monitoring: method does not apply to this kind of feature")
	// ErrUnknownFeature is returned for a feature the monitor was not configured with.
	ErrUnknownFeature = errors.New("monitoring: unknown feature")
	// ErrBadRecord is returned when a logged prediction or outcome does not decode or
	// lacks a field; it is predlog.ErrBadRecord, so either matches.
	ErrBadRecord = predlog.ErrBadRecord
)
