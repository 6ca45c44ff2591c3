package sim

import "errors"

// ErrConfig reports an invalid world configuration.
var ErrConfig = errors.New("sim: invalid configuration")
