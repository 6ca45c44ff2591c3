package loadgen

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"time"
)

// Request is one unit of work for a Target.
type Request struct {
	// Key names the entity the request is about (a user, a card, an ad slot); targets may
	// pass it on (an HTTP header, a NATS header) and reports may group by it. It may be empty.
	Key string
	// Body is the payload. Targets must treat it as read-only: a Workload may hand out the
	// same slice for every request.
	Body []byte

	// The fields below describe an event rather than a call. Targets that have no use for
	// them (HTTP) ignore them; natstarget uses them.

	// ID identifies the request: the log's deduplication id (NATS Nats-Msg-Id) and the key
	// an answer event is correlated by. It may be empty, except for a request that awaits
	// an answer.
	ID string
	// Subject, when set, routes this request instead of the target's configured subject
	// (a workload mixing transactions and chargebacks).
	Subject string
	// Time is the event time (when it happened in the world), carried to the log; zero
	// means none is given.
	Time time.Time
	// NoAnswer marks a request the system under test answers with nothing but its
	// acknowledgement (a chargeback, which the fraud scorer applies and publishes nothing
	// for): a target that awaits answer events completes it at the acknowledgement.
	NoAnswer bool
}

// Target sends requests to a system under test. It is the seam between the engine and a
// protocol; implementations live in subpackages (httptarget, natstarget).
type Target interface {
	// Do sends req and waits until the system under test has answered it: an HTTP response,
	// a JetStream acknowledgement, a NATS reply. It must return soon after ctx is done. Do
	// is called from many goroutines at once.
	Do(ctx context.Context, req Request) error
	// Close releases connections. The engine never calls it: whoever built the Target does.
	Close() error
}

// Starter is implemented by targets whose requests must leave in schedule order, such as
// events of a stream whose consumer keeps event time: with Do, concurrent workers reorder
// neighbouring requests whenever one of them is descheduled. The engine calls Start from
// its pacer goroutine, in schedule order, once a worker is free; Start only enqueues the
// send (an asynchronous publish) and returns the function a worker then calls to wait for
// the outcome, under the request's timeout. Latency is measured from the intended time
// to when that function returns, as with Do. ok = false means the target cannot start
// requests in its current mode, and the engine uses Do.
type Starter interface {
	Start(req Request) (wait func(ctx context.Context) error, ok bool)
}

// Workload decides what each request contains. The engine calls Next from one goroutine
// only, in schedule order, so implementations need no locking and, given the same rng
// seed, produce the same request sequence on every run.
type Workload interface {
	Next(rng *rand.Rand) Request
}

// Annotator is implemented by a Target or Workload that has something to add to the
// report's notes once the run is over: answers nobody was waiting for, a workload that ran
// out of events. The engine calls Notes after every request has finished.
type Annotator interface {
	Notes() []string
}

// KindError is implemented by errors that know which bucket of the report's "errors by
// kind" table they belong in (for example "http 503").
type KindError interface {
	error
	Kind() string
}

// Error kinds the engine assigns itself.
const (
	KindTimeout  = "timeout"
	KindCanceled = "canceled (run stopped)"
	// KindNotSent counts scheduled requests that were still queued in the generator, every
	// worker busy, when the send window closed. They were never sent.
	KindNotSent = "not sent (queued in generator at end of run)"
	// KindAbandoned counts requests whose Target did not return within its timeout plus a
	// grace period after the run ended; the engine stopped waiting for them.
	KindAbandoned = "abandoned (target ignored its deadline)"
)

// ErrorKind sorts an error from Target.Do into a short, stable category for reports.
func ErrorKind(err error) string {
	var ke KindError
	if errors.As(err, &ke) {
		return ke.Kind()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "network: " + oe.Op
	}
	return "other"
}
