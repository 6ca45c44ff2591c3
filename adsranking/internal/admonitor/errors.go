package admonitor

import "errors"

// Sentinel errors; wrapped errors carry the details, match them with errors.Is.
var (
	// ErrConfig is returned by Config.Validate and by New given a bad config.
	ErrConfig = errors.New("admonitor: invalid configuration")
	// ErrInvalidEvent is returned for an impression or click the monitor cannot place:
	// no request, a negative slot, no event time, or a pctr outside [0, 1].
	ErrInvalidEvent = errors.New("admonitor: invalid event")
)
