package server

import "errors"

// Sentinel errors.
var (
	// ErrInvalidConfig means a Config failed validation.
	ErrInvalidConfig = errors.New("invalid recsys server configuration")
	// errBadQuery marks a request the server refuses before it reaches the recommender
	// (answered 400, reason "bad_request").
	errBadQuery = errors.New("bad request")
	// errPanic marks a recommender that panicked (answered 500, reason "panic").
	errPanic = errors.New("recommender panicked")
)
