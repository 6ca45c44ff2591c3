package auction

import "errors"

// ErrConfig reports a Config, SimConfig or mechanism name that failed validation; the
// wrapping error names the field and the bad value.
var ErrConfig = errors.New("auction: invalid configuration")
