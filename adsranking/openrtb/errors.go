package openrtb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Every error this package returns wraps exactly one of them; callers
// test with errors.Is and map to a status with StatusFor.
var (
	// ErrTooLarge means the body is longer than the caller's limit (HTTP 413). Reading stops
	// at the limit, so an oversized body costs at most the limit in memory.
	ErrTooLarge = errors.New("openrtb: body too large")
	// ErrMalformed means the body is not one well-formed JSON value: a syntax error, a
	// truncated document, trailing bytes after the object, or an empty body (HTTP 400).
	ErrMalformed = errors.New("openrtb: malformed JSON")
	// ErrInvalid means the body is well-formed JSON but not a bid request this bidder can
	// act on: a field of the wrong JSON type or a value Validate refuses (HTTP 400). The
	// concrete error is a *FieldError naming the field.
	ErrInvalid = errors.New("openrtb: invalid bid request")
	// ErrRead means reading the body failed before it ended, typically because the client
	// went away or was too slow (HTTP 400; there is rarely anyone left to read it).
	ErrRead = errors.New("openrtb: reading body")
	// ErrInvalidResponse means a bid response failed BidResponse.Validate. It is what the
	// load generator sees when the bidder answers something it should not have (HTTP 502
	// if a proxy were to pass it on).
	ErrInvalidResponse = errors.New("openrtb: invalid bid response")
)

// FieldError is a refused field: Field is its path in the document, such as
// "imp[1].bidfloor" (type errors from the JSON decoder carry no array indices, so their
// path reads "imp.bidfloor" and the reason gives the line and column instead), and Reason
// says what was found and what is wanted. It unwraps to Err, which is ErrInvalid or
// ErrInvalidResponse.
type FieldError struct {
	Err    error
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%v: %s: %s", e.Err, e.Field, e.Reason) }

// Unwrap lets errors.Is(err, ErrInvalid) see through a FieldError.
func (e *FieldError) Unwrap() error { return e.Err }

// invalid builds a request FieldError; the path is formatted only on failure, so the
// passing path of Validate allocates nothing.
func invalid(field, format string, args ...any) error {
	return fieldError(ErrInvalid, field, format, args...)
}

func fieldError(kind error, field, format string, args ...any) error {
	return &FieldError{Err: kind, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// StatusFor is the HTTP status a server answers for err: 200 for nil, 413 for an oversized
// body (ErrTooLarge or net/http's *MaxBytesError), 400 for a malformed, invalid or
// unreadable request, 502 for an invalid bid response, and 500 for anything else, which
// is then the server's fault rather than the client's.
func StatusFor(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrTooLarge), errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrInvalid), errors.Is(err, ErrRead):
		return http.StatusBadRequest
	case errors.Is(err, ErrInvalidResponse):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// ReasonFor is the no-bid reason that goes with err when the server answers with a bid
// response rather than a bare status: the client's fault is NoBidInvalidRequest, running
// out of time is NoBidDeadlineExceeded, and anything else is NoBidTechnicalError.
func ReasonFor(err error) NoBidReason {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, ErrTooLarge), errors.As(err, &mbe), errors.Is(err, ErrMalformed),
		errors.Is(err, ErrInvalid), errors.Is(err, ErrRead):
		return NoBidInvalidRequest
	case errors.Is(err, context.DeadlineExceeded):
		return NoBidDeadlineExceeded
	}
	return NoBidTechnicalError
}
