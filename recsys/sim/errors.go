package sim

import "errors"

// ErrConfig marks an invalid Config; the message names every bad field.
var ErrConfig = errors.New("invalid sim config")
