package ml

import (
	"errors"
	"fmt"
)

// Sentinel errors; the typed errors below wrap them so callers can use errors.Is.
var (
	// ErrSchemaMismatch means a batch's feature schema is not the one the model was trained on.
	ErrSchemaMismatch = errors.New("feature schema mismatch")
	// ErrNonFinite means a feature value is NaN or ±Inf.
	ErrNonFinite = errors.New("non-finite feature value")
	// ErrOneClass means every training label is the same, so there is nothing to learn.
	ErrOneClass = errors.New("training labels have a single class")
	// ErrBadLabel means a label lies outside [0, 1].
	ErrBadLabel = errors.New("label outside [0, 1]")
	// ErrShape means the data's length does not match rows × features.
	ErrShape = errors.New("data shape does not match the schema")
	// ErrEmpty means there are no rows.
	ErrEmpty = errors.New("no rows")
	// ErrInvalidSchema means a schema has an empty or duplicate feature name or an unknown type.
	ErrInvalidSchema = errors.New("invalid feature schema")
	// ErrUnknownFamily means an artifact names a model family this build does not know.
	ErrUnknownFamily = errors.New("unknown model family")
	// ErrBadArtifact means an artifact could not be decoded.
	ErrBadArtifact = errors.New("malformed model artifact")
	// ErrInvalidConfig means a training configuration failed validation.
	ErrInvalidConfig = errors.New("invalid configuration")
)

// SchemaMismatchError says how a batch's schema differs from the model's.
type SchemaMismatchError struct {
	Want, Got Schema
	Detail    string
}

func (e *SchemaMismatchError) Error() string {
	return fmt.Sprintf("%v: %s (model expects %s, batch has %s)", ErrSchemaMismatch, e.Detail, e.Want.ShortHash(), e.Got.ShortHash())
}

func (e *SchemaMismatchError) Unwrap() error { return ErrSchemaMismatch }

// NonFiniteError locates the first NaN or infinite value found.
type NonFiniteError struct {
	Row     int
	Feature string
	Value   float64
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("%v: row %d feature %q is %v", ErrNonFinite, e.Row, e.Feature, e.Value)
}

func (e *NonFiniteError) Unwrap() error { return ErrNonFinite }

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}
