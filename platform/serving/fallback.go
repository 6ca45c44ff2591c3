package serving

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

// The paths that can answer a request, in the order the chain tries them.
const (
	PathPrimary   = "primary"
	PathCanary    = "canary"
	PathLastGood  = "last-good"
	PathHeuristic = "heuristic"
	PathDefault   = "default"
)

// Why the fallback chain answered instead of the primary path: Result.Reason, the
// X-Casebook-Fallback-Reason header and the reason label of casebook_serving_fallbacks_total.
// Deadline and overloaded are about time (a slow or busy machine, a stalled model);
// the others say the primary path could not answer at all.
const (
	// ReasonNotReady: no version is loaded for the route the request took.
	ReasonNotReady = "not-ready"
	// ReasonBreakerOpen: the primary path is skipped while its circuit breaker is open.
	ReasonBreakerOpen = "breaker-open"
	// ReasonOverloaded: admission control refused the request and ShedToFallback is on.
	ReasonOverloaded = "overloaded"
	// ReasonDeadline: the primary did not answer before the request's deadline (less the
	// fallback reserve), whether it queued behind load or the model stalled.
	ReasonDeadline = "deadline"
	// ReasonModelError: the primary answered with an error (its host is stopped or down,
	// Predict failed).
	ReasonModelError = "model-error"
)

// fallbackReason names the cause a primary attempt failed with.
func fallbackReason(cause error) string {
	switch {
	case errors.Is(cause, ErrNotReady):
		return ReasonNotReady
	case errors.Is(cause, ErrBreakerOpen):
		return ReasonBreakerOpen
	case errors.Is(cause, ErrOverloaded):
		return ReasonOverloaded
	case errors.Is(cause, ErrDeadline):
		return ReasonDeadline
	}
	return ReasonModelError
}

// Fallback is one element of a model's fallback chain after the primary path: it scores
// a batch when the model service cannot. Path names it in responses and metrics.
type Fallback interface {
	Path() string
	Score(ctx context.Context, b ml.Batch, out []float64) error
}

// Heuristic is a hand-written rule: a logistic function of a few named features, the
// kind of rule a fraud team kept before it had a model. Features it does not name are
// ignored; a named feature the schema lacks is an error at load.
type Heuristic struct {
	Weights map[string]float64 `json:"weights"`
	Bias    float64            `json:"bias"`
}

// Path implements Fallback.
func (Heuristic) Path() string { return PathHeuristic }

// Score implements Fallback.
func (h Heuristic) Score(_ context.Context, b ml.Batch, out []float64) error {
	k := b.Schema.Len()
	idx := make([]int, 0, len(h.Weights))
	ws := make([]float64, 0, len(h.Weights))
	for name, w := range h.Weights {
		j := b.Schema.Index(name)
		if j < 0 {
			return fmt.Errorf("heuristic: feature %q not in the schema", name)
		}
		idx, ws = append(idx, j), append(ws, w)
	}
	for i := range b.Rows() {
		z := h.Bias
		for n, j := range idx {
			z += ws[n] * b.X[i*k+j]
		}
		out[i] = 1 / (1 + math.Exp(-z))
	}
	return nil
}

// Default answers every row with the same score (say, the base rate): the last resort,
// which cannot fail.
type Default struct {
	Value float64 `json:"value"`
}

// Path implements Fallback.
func (Default) Path() string { return PathDefault }

// Score implements Fallback.
func (d Default) Score(_ context.Context, b ml.Batch, out []float64) error {
	for i := range b.Rows() {
		out[i] = d.Value
	}
	return nil
}

// lastGood scores with the version the primary alias pointed to before its last move,
// inline on the caller's goroutine: the model service being down is exactly when its
// queue cannot be used.
type lastGood struct{ e *entry }

func (lastGood) Path() string { return PathLastGood }

func (l lastGood) Score(_ context.Context, b ml.Batch, out []float64) error {
	d := l.e.lastGood.Load()
	if d == nil {
		return fmt.Errorf("no last known good version")
	}
	return d.model.Predict(b, out)
}

// breaker is a circuit breaker over a model's primary path: Failures consecutive
// failures or timeouts open it; after Cooldown one probe request is let through
// (half-open); its success closes the breaker, its failure opens it again.
type breaker struct {
	failures int
	cooldown time.Duration
	onChange func(state string)

	mu       sync.Mutex
	state    string
	fails    int
	openedAt time.Time
	probing  bool
}

const (
	breakerClosed   = "closed"
	breakerOpen     = "open"
	breakerHalfOpen = "half-open"
)

func newBreaker(failures int, cooldown time.Duration, onChange func(string)) *breaker {
	return &breaker{failures: failures, cooldown: cooldown, onChange: onChange, state: breakerClosed}
}

// allow reports whether the primary path may be tried now; probe is true for the one
// half-open trial.
func (b *breaker) allow(now time.Time) (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerClosed:
		return true, false
	case breakerOpen:
		if now.Sub(b.openedAt) < b.cooldown {
			return false, false
		}
		b.set(breakerHalfOpen)
		fallthrough
	default: // half-open
		if b.probing {
			return false, false
		}
		b.probing = true
		return true, true
	}
}

// record reports the outcome of a primary attempt.
func (b *breaker) record(ok, probe bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if ok {
		b.fails = 0
		if b.state != breakerClosed {
			b.set(breakerClosed)
		}
		return
	}
	b.fails++
	if probe || (b.state == breakerClosed && b.fails >= b.failures) {
		b.openedAt = now
		b.set(breakerOpen)
	}
}

// abandon ends a probe without a verdict (it was late for reasons other than the model).
func (b *breaker) abandon(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

func (b *breaker) current() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *breaker) set(s string) {
	b.state = s
	if b.onChange != nil {
		b.onChange(s)
	}
}
