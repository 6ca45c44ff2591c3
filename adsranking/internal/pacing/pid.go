package pacing

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// PIDConfig tunes the bid-multiplier controller. The error is in shares of the budget and
// time in hours, so the gains do not depend on the size of a campaign.
type PIDConfig struct {
	Interval time.Duration // how often Update is meant to run (the step uses the actual time elapsed)
	// Kp per share of budget behind plan; Ki per share-hour; Kd per share-per-hour.
	Kp, Ki, Kd float64
	// DerivSmoothing is the weight of the newest derivative sample, in (0, 1]: the raw
	// derivative of spend over a few minutes is mostly noise.
	DerivSmoothing float64
	// MinMultiplier is the lowest bid multiplier, in (0, 1]; the highest is 1 (never bid
	// above value).
	MinMultiplier float64
	// Initial is the multiplier at the first step and the controller's bias, in
	// [MinMultiplier, 1].
	Initial float64
}

// DefaultPIDConfig is tuned on SimulateDay's default market.
func DefaultPIDConfig() PIDConfig {
	return PIDConfig{Interval: 5 * time.Minute, Kp: 10, Ki: 10, Kd: 0.5, DerivSmoothing: 0.3, MinMultiplier: 0.1, Initial: 1}
}

// Validate reports whether the configuration can be used.
func (c PIDConfig) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("%w: PID interval %v, want > 0", ErrConfig, c.Interval)
	case !(c.Kp >= 0) || !(c.Ki >= 0) || !(c.Kd >= 0) || math.IsInf(c.Kp+c.Ki+c.Kd, 0):
		return fmt.Errorf("%w: PID gains %v, %v, %v, want finite and ≥ 0", ErrConfig, c.Kp, c.Ki, c.Kd)
	case !(c.DerivSmoothing > 0 && c.DerivSmoothing <= 1):
		return fmt.Errorf("%w: PID derivative smoothing %v, want in (0, 1]", ErrConfig, c.DerivSmoothing)
	case !(c.MinMultiplier > 0 && c.MinMultiplier <= 1):
		return fmt.Errorf("%w: PID minimum multiplier %v, want in (0, 1]", ErrConfig, c.MinMultiplier)
	case !(c.Initial >= c.MinMultiplier && c.Initial <= 1):
		return fmt.Errorf("%w: PID initial multiplier %v, want in [%v, 1]", ErrConfig, c.Initial, c.MinMultiplier)
	}
	return nil
}

// PID paces by bid: every request participates, bidding m × value with m ∈
// [MinMultiplier, 1] set by a PID controller on the cumulative error
//
//	e = (budget × share(t) − spent) / budget       (> 0: behind plan)
//	m = clamp(Initial + Kp·e + Ki·∫e dt + Kd·de/dt, MinMultiplier, 1)
//
// The error is cumulative rather than a rate because the cumulative gap is what the plan
// is judged on and what must not drift: a controller on the rate error (planned minus
// actual spend per interval) sees mostly per-interval noise and needs its integral term to
// recover the cumulative gap anyway. On the cumulative error, P closes the gap, I holds
// the multiplier a campaign needs at zero error (its level depends on the market, so it
// must be learnt), and D is the rate error (de/dt = planned − actual spend rate, per
// budget), smoothed, damping overshoot.
//
// Anti-windup is conditional integration: while the output is saturated and the error
// pushes further into saturation (behind plan at m = 1: the campaign cannot buy more; ahead
// at the minimum) the integral is frozen, and it is bounded to |Ki·∫e| ≤ 1. Without it, a
// campaign that cannot keep up overnight would store an integral that keeps it bidding
// full value long after it has caught up.
type PID struct {
	plan   Plan
	cfg    PIDConfig
	src    SpendSource
	states table[pidState]
	mults  dense[float64] // the multipliers as of the last Update, for Decide

	mu  sync.Mutex // serialises Update
	ids []int64
}

type pidState struct {
	mult atomicFloat

	// Update's own, under PID.mu.
	integral, deriv, lastErr float64
	lastT                    time.Duration
	started                  bool
}

// NewPID returns a PID pacer pacing against plan on spend read from src.
func NewPID(plan Plan, cfg PIDConfig, src SpendSource) (*PID, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("%w: PID needs a spend source", ErrConfig)
	}
	return &PID{plan: plan, cfg: cfg, src: src}, nil
}

// Name is "pid".
func (p *PID) Name() string { return "pid" }

// Decide always participates, at the campaign's current multiplier.
func (p *PID) Decide(campaign int64, _ uint64, _ time.Time) (bool, float64) {
	if m, ok, in := p.mults.get(campaign); in {
		if ok {
			return true, m
		}
		return true, 1
	}
	if s := p.states.get(campaign); s != nil {
		return true, s.mult.Load()
	}
	return true, 1
}

// State reports full participation and the multiplier.
func (p *PID) State(campaign int64) (float64, float64) {
	_, m := p.Decide(campaign, 0, time.Time{})
	return 1, m
}

// Update moves every campaign's multiplier; see PID.
func (p *PID) Update(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := p.plan.Elapsed(now)
	share := p.plan.Curve.CumulativeShare(el)
	p.ids = p.src.Campaigns(p.ids[:0])
	var newIDs []int64
	var news []*pidState
	for _, id := range p.ids {
		budget, spent, ok := p.src.Spent(id)
		if !ok {
			continue
		}
		s := p.states.get(id)
		if s == nil {
			s = &pidState{}
			s.mult.Store(p.cfg.Initial)
			newIDs, news = append(newIDs, id), append(news, s)
		}
		if budget <= 0 {
			continue // nothing to pace; the ledger refuses it anyway
		}
		e := (float64(budget)*share - float64(spent)) / float64(budget)
		p.step(s, e, el)
	}
	p.states.addAll(newIDs, news)
	p.mults.publish(p.ids, func(id int64) (float64, bool) {
		if s := p.states.get(id); s != nil {
			return s.mult.Load(), true
		}
		return 0, false
	})
}

func (p *PID) step(s *pidState, e float64, el time.Duration) {
	if !s.started {
		s.lastErr, s.lastT, s.started = e, el, true
		return
	}
	dt := (el - s.lastT).Hours()
	if dt <= 0 {
		return
	}
	c := p.cfg
	s.deriv += c.DerivSmoothing * ((e-s.lastErr)/dt - s.deriv)
	s.lastErr, s.lastT = e, el
	out := func(integral float64) float64 { return c.Initial + c.Kp*e + c.Ki*integral + c.Kd*s.deriv }
	integral := s.integral + e*dt
	if u := out(integral); (u > 1 && e > 0) || (u < c.MinMultiplier && e < 0) {
		integral = s.integral // saturated and the error would push further: freeze
	}
	if c.Ki > 0 {
		integral = clamp(integral, -1/c.Ki, 1/c.Ki)
	}
	s.integral = integral
	s.mult.Store(clamp(out(integral), c.MinMultiplier, 1))
}
