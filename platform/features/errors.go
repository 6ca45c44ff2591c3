package features

import (
	"errors"
	"fmt"
)

// Errors callers are expected to handle. Match them with errors.Is; the wrapping error names
// the view, feature, entity or row that was wrong.
var (
	// ErrUnknownView means a request named a feature view the registry does not hold.
	ErrUnknownView = errors.New("unknown feature view")
	// ErrUnknownFeature means a request named a feature its view does not define.
	ErrUnknownFeature = errors.New("unknown feature")
	// ErrUnknownService means a request named a feature service the registry does not hold.
	ErrUnknownService = errors.New("unknown feature service")
	// ErrWrongType means a value's type differs from the feature's declared type.
	ErrWrongType = errors.New("wrong value type")
	// ErrEmptyEntityKey means an entity key was the empty string.
	ErrEmptyEntityKey = errors.New("empty entity key")
	// ErrInvalidValue means a value cannot be stored: NaN or ±Inf, or a vector of the wrong
	// length.
	ErrInvalidValue = errors.New("invalid feature value")
	// ErrInvalidDefinition means an entity, view or service definition was rejected.
	ErrInvalidDefinition = errors.New("invalid feature definition")
	// ErrSchemaMismatch means a caller expected a feature service schema hash that differs
	// from the registered one: the model was trained on a different feature set.
	ErrSchemaMismatch = errors.New("feature schema mismatch")
	// ErrUnavailable means the online store did not answer within its timeout. Callers
	// degrade to default features; UnavailableError says which store.
	ErrUnavailable = errors.New("online store unavailable")
	// ErrPartitionExists means a partition version was about to be overwritten.
	ErrPartitionExists = errors.New("offline partition version exists")
	// ErrInvalidConfig means a config struct failed Validate.
	ErrInvalidConfig = errors.New("invalid config")
)

// UnavailableError names the online store that did not answer and how long the caller waited.
type UnavailableError struct {
	Store string // "redis 127.0.0.1:6379"
	Op    string // "read", "write"
	Err   error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("online store %s unavailable during %s: %v", e.Store, e.Op, e.Err)
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }
