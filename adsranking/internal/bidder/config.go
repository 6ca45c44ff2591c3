package bidder

import (
	"errors"
	"fmt"
	"time"

	"github.com/casebook-ml/casebook/adsranking/internal/auction"
)

// ErrConfig reports an invalid bidder configuration.
var ErrConfig = errors.New("bidder: invalid configuration")

// Config sets the request path.
type Config struct {
	// Candidates is the most eligible ads scored per request (the best by bid × prior CTR
	// when more are eligible).
	Candidates int
	// DefaultTMax is the time budget of a request without tmax.
	DefaultTMax time.Duration
	// Margin is kept back from tmax for the network and the exchange's own handling: the
	// bidder's deadline is tmax − Margin after the request arrived.
	Margin time.Duration
	// Auction is the mechanism, increment and user-value weight; the reserve and slots come
	// from each request.
	Auction auction.Config
	// Ladder says when a late request steps down.
	Ladder Ladder
	// PriorCandidates is the candidate count at the "fewer candidates" step.
	PriorCandidates int
	// AdCache keeps each ad's share of the click model precomputed (see adParts).
	AdCache bool
	// PriorOnly scores every request with the prior click rates, the ladder's cheapest
	// model, whatever the time: for measuring what that step costs in quality.
	PriorOnly bool
	// NoProfile skips the profile read; segments and age are unknown (-1), geo and device
	// come from the request: for a model trained without them (ctr.Log.WithoutFields with
	// the profile fields). The profile cache is neither read nor filled, so the ladder's
	// cached-features step never applies, and segment-targeted campaigns are not eligible.
	NoProfile bool
}

// Ladder is the degrade ladder: at each stage, the share of the time budget already used
// above which the request takes the cheaper path. Each step is counted in metrics and
// named in the response.
type Ladder struct {
	CachedFeatures  float64 // before the profile read: use the cached profile instead
	FewerCandidates float64 // before candidate selection: keep PriorCandidates
	CheaperModel    float64 // before scoring: score with the prior click rates only
	StopScoring     float64 // while scoring: stop and auction what has been scored
}

// Level is how far down the ladder a request went.
type Level int

// The ladder's steps, in order.
const (
	Full Level = iota
	CachedFeatures
	FewerCandidates
	CheaperModel
	PartialScoring
	levels
)

var levelNames = [...]string{"full", "cached-features", "fewer-candidates", "cheaper-model", "partial-scoring"}

func (l Level) String() string {
	if l >= 0 && l < levels {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// DefaultConfig scores 1,000 candidates with a 50 ms default budget and 5 ms margin, GSP,
// with the ad cache.
func DefaultConfig() Config {
	a := auction.DefaultConfig()
	return Config{Candidates: 1000, DefaultTMax: 50 * time.Millisecond, Margin: 5 * time.Millisecond, Auction: a,
		Ladder: Ladder{CachedFeatures: 0.3, FewerCandidates: 0.4, CheaperModel: 0.6, StopScoring: 0.8}, PriorCandidates: 200, AdCache: true}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	l := c.Ladder
	switch {
	case c.Candidates < 1 || c.PriorCandidates < 1:
		return fmt.Errorf("%w: Candidates %d, PriorCandidates %d, want ≥ 1", ErrConfig, c.Candidates, c.PriorCandidates)
	case c.DefaultTMax <= 0 || c.Margin < 0 || c.Margin >= c.DefaultTMax:
		return fmt.Errorf("%w: DefaultTMax %v, Margin %v: want 0 ≤ Margin < DefaultTMax", ErrConfig, c.DefaultTMax, c.Margin)
	case !(0 < l.CachedFeatures && l.CachedFeatures <= l.FewerCandidates && l.FewerCandidates <= l.CheaperModel && l.CheaperModel <= l.StopScoring && l.StopScoring <= 1):
		return fmt.Errorf("%w: ladder %+v must rise within (0, 1]", ErrConfig, l)
	}
	return nil
}
