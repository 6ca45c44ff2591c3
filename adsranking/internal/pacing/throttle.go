package pacing

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ThrottleConfig tunes probabilistic throttling.
type ThrottleConfig struct {
	// Interval is how often Update is meant to run; the rate set at a step is sized for the
	// traffic expected over the next Interval.
	Interval time.Duration
	// MinRate is the lowest participation rate: a campaign far ahead of plan still sees a
	// trickle of requests, so the controller keeps measuring its demand.
	MinRate float64
	// CatchUp is the horizon over which a gap between plan and spend is closed: shorter
	// follows the plan more tightly, longer reacts less to noise.
	CatchUp time.Duration
	// Smoothing is the weight of the newest interval in the running estimate of demand
	// (spend per unit of traffic share at full participation), in (0, 1].
	Smoothing float64
	// MaxStep bounds the change of the rate per step to a factor (≥ 1), so one noisy
	// interval cannot swing it from minimum to maximum.
	MaxStep float64
	// Seed of the coin flips.
	Seed uint64
}

// DefaultThrottleConfig steps every 5 minutes and closes gaps over an hour.
func DefaultThrottleConfig() ThrottleConfig {
	return ThrottleConfig{Interval: 5 * time.Minute, MinRate: 0.02, CatchUp: time.Hour, Smoothing: 0.3, MaxStep: 2, Seed: 1}
}

// Validate reports whether the configuration can be used.
func (c ThrottleConfig) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("%w: throttle interval %v, want > 0", ErrConfig, c.Interval)
	case !(c.MinRate > 0 && c.MinRate <= 1):
		return fmt.Errorf("%w: throttle minimum rate %v, want in (0, 1]", ErrConfig, c.MinRate)
	case c.CatchUp <= 0:
		return fmt.Errorf("%w: throttle catch-up %v, want > 0", ErrConfig, c.CatchUp)
	case !(c.Smoothing > 0 && c.Smoothing <= 1):
		return fmt.Errorf("%w: throttle smoothing %v, want in (0, 1]", ErrConfig, c.Smoothing)
	case !(c.MaxStep >= 1) || math.IsInf(c.MaxStep, 0):
		return fmt.Errorf("%w: throttle max step %v, want a finite factor ≥ 1", ErrConfig, c.MaxStep)
	}
	return nil
}

// Throttle paces by participation: a campaign bids (at full value) on a share p ∈
// [MinRate, 1] of its requests. Each step estimates the campaign's demand d, its spend per
// unit of traffic share at p = 1, from the last interval (spend / (p × share of traffic
// expected in it)), smoothed; then sets
//
//	p = (budget × s_next + gap × min(1, Interval/CatchUp)) / (d × s_next)
//
// where s_next is the traffic share expected over the next Interval and gap = plan − spend
// so far. The first term is the plan's spend for the interval (feed-forward through the
// traffic curve); the second closes the cumulative gap over CatchUp (feedback). Because
// spend is proportional to p for a random subset of requests, the estimate is unbiased
// whatever p was. The coin flip is a hash of (seed, request, campaign) compared with p:
// reproducible, lock-free and independent across campaigns.
type Throttle struct {
	plan       Plan
	cfg        ThrottleConfig
	src        SpendSource
	states     table[throttleState]
	thresholds dense[uint64] // the participation thresholds as of the last Update, for Decide

	mu  sync.Mutex // serialises Update
	ids []int64
}

type throttleState struct {
	threshold atomic.Uint64 // participate when the coin is below; MaxUint64: always
	rate      atomicFloat

	// Update's own, under Throttle.mu.
	p, demand  float64
	haveDemand bool
	lastSpent  Micros
	lastShare  float64
}

func (s *throttleState) set(p float64) {
	s.p = p
	s.rate.Store(p)
	if p >= 1 {
		s.threshold.Store(math.MaxUint64)
	} else {
		s.threshold.Store(uint64(p * (1 << 64)))
	}
}

// NewThrottle returns a throttle pacing against plan on spend read from src.
func NewThrottle(plan Plan, cfg ThrottleConfig, src SpendSource) (*Throttle, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("%w: throttle needs a spend source", ErrConfig)
	}
	return &Throttle{plan: plan, cfg: cfg, src: src}, nil
}

// Name is "throttle".
func (t *Throttle) Name() string { return "throttle" }

// Decide participates with the campaign's current probability, always at multiplier 1.
func (t *Throttle) Decide(campaign int64, request uint64, _ time.Time) (bool, float64) {
	thr, ok, in := t.thresholds.get(campaign)
	if !in {
		s := t.states.get(campaign)
		ok = s != nil
		if ok {
			thr = s.threshold.Load()
		}
	}
	if !ok {
		return true, 1
	}
	return thr == math.MaxUint64 || coin(t.cfg.Seed, request, uint64(campaign)) < thr, 1
}

// State reports the participation rate; the multiplier is always 1.
func (t *Throttle) State(campaign int64) (float64, float64) {
	if s := t.states.get(campaign); s != nil {
		return s.rate.Load(), 1
	}
	return 1, 1
}

// Update moves every campaign's participation rate; see Throttle.
func (t *Throttle) Update(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el := t.plan.Elapsed(now)
	share := t.plan.Curve.CumulativeShare(el)
	next := t.plan.Curve.Between(el, el+t.cfg.Interval)
	correct := min(1, float64(t.cfg.Interval)/float64(t.cfg.CatchUp))
	t.ids = t.src.Campaigns(t.ids[:0])
	var newIDs []int64
	var news []*throttleState
	for _, id := range t.ids {
		budget, spent, ok := t.src.Spent(id)
		if !ok {
			continue
		}
		s := t.states.get(id)
		if s == nil {
			s = &throttleState{lastSpent: spent, lastShare: share}
			s.set(1)
			newIDs, news = append(newIDs, id), append(news, s)
			continue
		}
		t.step(s, budget, spent, share, next, correct)
	}
	t.states.addAll(newIDs, news)
	t.thresholds.publish(t.ids, func(id int64) (uint64, bool) {
		if s := t.states.get(id); s != nil {
			return s.threshold.Load(), true
		}
		return 0, false
	})
}

func (t *Throttle) step(s *throttleState, budget, spent Micros, share, next, correct float64) {
	ds := share - s.lastShare
	if ds <= 0 {
		return // no traffic expected since the last step: nothing learnt
	}
	// Spend can go down (expired reservations are returned); that is not negative demand.
	sample := float64(max(0, spent-s.lastSpent)) / (s.p * ds)
	s.lastSpent, s.lastShare = spent, share
	if s.haveDemand {
		s.demand += t.cfg.Smoothing * (sample - s.demand)
	} else {
		s.demand, s.haveDemand = sample, true
	}
	if budget <= 0 || next <= 0 {
		return // nothing to pace: no budget, or the day is over
	}
	gap := float64(budget)*share - float64(spent)
	target := float64(budget)*next + gap*correct
	var p float64
	switch {
	case target <= 0:
		p = 0 // ahead by more than the next interval's plan: sit out as far as allowed
	case s.demand <= 0:
		p = 1 // no spend seen at all: it cannot be ahead
	default:
		p = target / (s.demand * next)
	}
	p = clamp(p, s.p/t.cfg.MaxStep, s.p*t.cfg.MaxStep)
	s.set(clamp(p, t.cfg.MinRate, 1))
}
