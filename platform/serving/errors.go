package serving

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors. The HTTP layer maps each to a status code (see statusOf); none is a 5xx
// except ErrUnavailable, which is what a request gets only when every fallback failed too.
var (
	// ErrInvalidConfig means a Config or ModelConfig failed validation.
	ErrInvalidConfig = errors.New("invalid serving configuration")
	// ErrBadRequest means the request body is not a valid inference request for the model.
	ErrBadRequest = errors.New("bad inference request")
	// ErrTooLarge means the body exceeds the size limit.
	ErrTooLarge = errors.New("request body too large")
	// ErrModelNotFound means no model of that name is served.
	ErrModelNotFound = errors.New("model not found")
	// ErrVersionNotFound means the model is served but not at that version.
	ErrVersionNotFound = errors.New("model version not served")
	// ErrNotReady means the model has no loaded version yet.
	ErrNotReady = errors.New("model not ready")
	// ErrOverloaded means admission control refused the request because it would wait
	// past its deadline or the model's queue is full.
	ErrOverloaded = errors.New("overloaded: request would miss its deadline")
	// ErrDeadline means the request's deadline passed before it could be answered.
	ErrDeadline = errors.New("deadline exceeded")
	// ErrUnauthenticated means the API key is missing or unknown.
	ErrUnauthenticated = errors.New("missing or unknown API key")
	// ErrForbidden means the key's scopes do not allow the call.
	ErrForbidden = errors.New("API key not allowed to do that")
	// ErrHostStopped means the model's workers are stopped (the "model service is down").
	ErrHostStopped = errors.New("model host stopped")
	// ErrBreakerOpen means the primary path is skipped because its circuit breaker is open.
	ErrBreakerOpen = errors.New("circuit breaker open")
	// ErrFeatureServiceMismatch means a version was trained on another feature service (or
	// another version of it) than the one the model is served with; serving refuses to
	// load it and keeps the version it has.
	ErrFeatureServiceMismatch = errors.New("model trained on another feature service")
	// ErrUnavailable means the primary path and every fallback failed.
	ErrUnavailable = errors.New("no path could answer")
)

// OverloadError is a refusal by admission control with a hint for when to retry.
type OverloadError struct {
	Model      string
	Reason     string // "deadline" (predicted wait exceeds the budget) or "queue-full"
	Predicted  time.Duration
	Budget     time.Duration
	RetryAfter time.Duration
}

func (e *OverloadError) Error() string {
	return fmt.Sprintf("%v: model %s: %s (predicted wait %v, budget %v)", ErrOverloaded, e.Model, e.Reason, e.Predicted.Round(time.Microsecond), e.Budget.Round(time.Microsecond))
}

func (e *OverloadError) Unwrap() error { return ErrOverloaded }

// statusOf maps an error to the HTTP status the protocol answers with.
func statusOf(err error) int {
	var oe *OverloadError
	switch {
	case errors.As(err, &oe):
		if oe.Reason == "queue-full" {
			return http.StatusServiceUnavailable
		}
		return http.StatusTooManyRequests
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrModelNotFound), errors.Is(err, ErrVersionNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrDeadline):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrNotReady):
		return http.StatusServiceUnavailable
	}
	return http.StatusServiceUnavailable
}
