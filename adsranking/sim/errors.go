package sim

import "errors"

// ErrConfig reports an invalid world or stream configuration.
var ErrConfig = errors.New("sim: invalid configuration")
