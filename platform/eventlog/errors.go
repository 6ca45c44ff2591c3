package eventlog

import (
	"errors"
	"fmt"
	"net/url"
)

// Errors callers are expected to handle. Match them with errors.Is; the concrete error
// carries the details (which URL, which stream, which sizes).
var (
	// ErrUnreachable means no NATS server answered at the configured URL.
	ErrUnreachable = errors.New("event log server unreachable")
	// ErrStreamNotFound means the named stream does not exist on the server.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrMessageTooLarge means an event is larger than the server or the stream accepts.
	ErrMessageTooLarge = errors.New("message too large")
	// ErrInvalidConfig means a stream, consumer or connection config was rejected before
	// anything was sent to the server.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrStreamConfigConflict means a stream exists with a config different from the one
	// asked for; nothing was changed. Call UpdateStream to apply the new config on purpose.
	ErrStreamConfigConflict = errors.New("stream exists with a different config")
	// ErrInvalidEvent means an event lacks what the log needs (an id, a subject).
	ErrInvalidEvent = errors.New("invalid event")
	// ErrNoDeadLetterStream means a dead-letter subject is not captured by any stream, so a
	// poison message could not be parked and was left for redelivery instead.
	ErrNoDeadLetterStream = errors.New("dead-letter subject has no stream")
	// ErrConsumerConflict means a durable consumer exists with a config the caller cannot
	// use, such as one made by Consume (an ack per message) given to ConsumeOrdered (one
	// cumulative ack per batch). Nothing was changed.
	ErrConsumerConflict = errors.New("consumer exists with an incompatible config")
	// ErrConsumerInUse means another reader is pulling from a durable that ConsumeOrdered
	// must read alone.
	ErrConsumerInUse = errors.New("consumer in use by another reader")
)

// UnreachableError names the server that did not answer.
type UnreachableError struct {
	URL string // credentials removed
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("connect to event log at %s: %v", e.URL, e.Err)
}

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

func (e *UnreachableError) Unwrap() error { return e.Err }

// TooLargeError says how large the message was and what the limit is.
type TooLargeError struct {
	Subject string
	Size    int   // bytes of payload plus headers; 0 when only the server knows
	Limit   int64 // bytes; 0 when only the server knows
	Err     error
}

func (e *TooLargeError) Error() string {
	if e.Size > 0 && e.Limit > 0 {
		return fmt.Sprintf("publish to %s: message of %d bytes exceeds the limit of %d bytes", e.Subject, e.Size, e.Limit)
	}
	return fmt.Sprintf("publish to %s: message exceeds the stream's maximum message size: %v", e.Subject, e.Err)
}

// Is makes errors.Is(err, ErrMessageTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrMessageTooLarge }

func (e *TooLargeError) Unwrap() error { return e.Err }

// redactURL removes credentials from a server URL so that it can be named in errors and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User("redacted")
	return u.String()
}
