package ease

import "errors"

// Sentinel errors; callers use errors.Is.
var (
	// ErrInvalidConfig means a Config failed validation.
	ErrInvalidConfig = errors.New("ease: invalid configuration")
	// ErrInvalidInput means the training pairs are unusable: no pairs, or user and item
	// slices of different lengths.
	ErrInvalidInput = errors.New("ease: invalid training input")
	// ErrTooManyItems means the catalogue exceeds Config.MaxItems: the model is a dense
	// items × items matrix.
	ErrTooManyItems = errors.New("ease: too many items")
	// ErrBadArtifact means an encoded model could not be decoded: wrong magic or version,
	// truncated, failed checksum or inconsistent content.
	ErrBadArtifact = errors.New("ease: malformed model artifact")
)
