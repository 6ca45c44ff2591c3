package server

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/privacy/pii"

	"github.com/casebook-ml/casebook/recsys/internal/recommend"
)

// Config holds the server's settings.
type Config struct {
	// DefaultK is the number of items answered when the request has no k parameter.
	DefaultK int
	// Timeout is each request's deadline, passed to the recommender in its context. A
	// recommender that misses it and returns the context's error is answered 503.
	Timeout time.Duration
	// ContextParams are the query parameters passed through to Request.Context for the
	// cold-start path (e.g. genre). Any query parameter that is neither one of these, k nor
	// diversity is refused with 400: a typo (diversty=0.5) should not silently give a
	// different answer.
	ContextParams []string
	// Gatherer, when set, is served at /metrics (usually the Registry the server's
	// metrics are registered on).
	Gatherer prometheus.Gatherer
	// Tokenizer, when set, replaces the request's user id by its keyed-hash token
	// (Int53(recfeatures.UserField, id)) as soon as it is parsed, before anything is logged,
	// looked up or answered: the recommender, the online store and the log lines see only
	// the token, which is what the models were trained on (live.TokenizeRatings under the
	// same key). The answer's "user" is the token. Nil passes the raw id through (tests of
	// the HTTP layer, the no-op floor).
	Tokenizer *pii.Tokenizer
}

// DefaultConfig answers 10 items by default within 50 ms, with genre as the only context
// parameter and no /metrics endpoint.
func DefaultConfig() Config {
	return Config{DefaultK: 10, Timeout: 50 * time.Millisecond, ContextParams: []string{"genre"}}
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	if c.DefaultK < 1 || c.DefaultK > recommend.MaxK {
		return fmt.Errorf("%w: DefaultK = %d, want 1..%d", ErrInvalidConfig, c.DefaultK, recommend.MaxK)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("%w: Timeout = %v, want > 0", ErrInvalidConfig, c.Timeout)
	}
	seen := map[string]bool{paramK: true, paramDiversity: true}
	for _, p := range c.ContextParams {
		if p == "" {
			return fmt.Errorf("%w: empty context parameter name", ErrInvalidConfig)
		}
		if seen[p] {
			return fmt.Errorf("%w: context parameter %q is listed twice or is reserved", ErrInvalidConfig, p)
		}
		seen[p] = true
	}
	return nil
}
