// Package recommend answers "which k items should this user see next": retrieval from the
// ANN index, features, a ranking model and a diversity re-rank, degrading to cold-start and
// popular items rather than failing. This file is the request contract the HTTP server
// (recsys/internal/server) and the Recommender agree on.
package recommend

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// MaxK is the most items one request may ask for.
const MaxK = 100

// ErrInvalid marks a request the recommender refuses (the server answers 400).
//
// There is deliberately no ErrUnknownUser: a user the recommender has never seen is
// answered by the cold-start path (Response.Path "cold-start"), not refused.
//
// It lives here rather than in an errors.go because this file is the package's contract;
// move it there once the package has other sentinels.
var ErrInvalid = errors.New("invalid request")

// Request asks for k recommendations for one user.
type Request struct {
	User      int64
	K         int     // 1..MaxK
	Diversity float64 // MMR trade-off λ in [0,1]; 0 = pure relevance (default)
	// Context is optional request context for cold start (e.g. "genre" preferences); may be nil.
	Context map[string]string
}

// Validate reports a request no Recommender can answer, wrapping ErrInvalid.
func (r Request) Validate() error {
	if r.User < 0 {
		return fmt.Errorf("%w: user %d, want ≥ 0", ErrInvalid, r.User)
	}
	if r.K < 1 || r.K > MaxK {
		return fmt.Errorf("%w: k = %d, want 1..%d", ErrInvalid, r.K, MaxK)
	}
	if math.IsNaN(r.Diversity) || r.Diversity < 0 || r.Diversity > 1 {
		return fmt.Errorf("%w: diversity = %v, want in [0, 1]", ErrInvalid, r.Diversity)
	}
	return nil
}

// Item is one recommended item.
type Item struct {
	ID    int64   `json:"id"`
	Score float64 `json:"score"`
}

// Timings are the per-stage durations of one request.
type Timings struct {
	Retrieve, Features, Rank, Rerank time.Duration
}

// Response is one answer.
type Response struct {
	User         int64   `json:"user"`
	Items        []Item  `json:"items"`
	ModelVersion string  `json:"model_version"` // e.g. "recsys-ranker/v3"
	IndexVersion string  `json:"index_version"` // e.g. "recsys-index/v2"
	Path         string  `json:"path"`          // which path answered: "personal", "cold-start", "fallback-popular"
	Candidates   int     `json:"candidates"`
	Timings      Timings `json:"-"`
}

// Recommender answers requests. Implementations are safe for concurrent use.
type Recommender interface {
	Recommend(ctx context.Context, req Request) (Response, error)
}
