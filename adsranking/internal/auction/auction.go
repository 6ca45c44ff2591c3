// Package auction clears the ad auction of one request: up to about a thousand eligible
// candidates, each with a bid per click and a predicted click-through rate, compete for a
// handful of slots, and the package picks the winners and prices them under GSP, VCG or
// first price. It is on the request path, so Run keeps to a single pass over the
// candidates, a partial selection of the top S+1 and no allocation in steady state; and it
// is where money is computed, so its prices are checked against their definitions by
// property tests (prices within bids and reserves, VCG truthfulness, GSP ≥ VCG).
//
// Compare and Frontier are the case study's economics: they simulate many auctions under
// stated bidding models and report revenue, advertiser surplus, welfare and efficiency per
// mechanism, and the revenue/user-value trade-off as the user-value weight λ grows.
//
// The click model is separable: a candidate's click probability in slot j is PCTR·θ_j,
// with θ_1 = 1 by convention. Candidates are ranked by the score
//
//	s = CPC·PCTR + λ·Value
//
// an expected price per impression plus a user-value term. The reserve is a minimum
// expected price per impression (ReserveCPM/1000) that only the bid can pay.
package auction

import (
	"fmt"
	"math"
	"strings"
)

// Mechanism is a pricing rule. All three rank and allocate the same way; they differ in
// what a winner pays.
type Mechanism int

const (
	// GSP charges each winner the least bid per click that keeps its slot, plus an
	// increment: the industry default.
	GSP Mechanism = iota
	// VCG charges each winner the externality it imposes on the others; truthful bidding
	// is a dominant strategy.
	VCG
	// FirstPrice charges each winner its bid.
	FirstPrice
)

// String gives the name ParseMechanism accepts.
func (m Mechanism) String() string {
	switch m {
	case GSP:
		return "gsp"
	case VCG:
		return "vcg"
	case FirstPrice:
		return "first-price"
	}
	return fmt.Sprintf("Mechanism(%d)", int(m))
}

// ParseMechanism reads "gsp", "vcg" or "first-price" (case and surrounding space ignored;
// "firstprice" and "first_price" are accepted too).
func ParseMechanism(s string) (Mechanism, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "gsp":
		return GSP, nil
	case "vcg":
		return VCG, nil
	case "first-price", "firstprice", "first_price":
		return FirstPrice, nil
	}
	return 0, fmt.Errorf("%w: mechanism %q, want gsp, vcg or first-price", ErrConfig, s)
}

// MarshalText lets a Mechanism appear by name in JSON reports and flags.
func (m Mechanism) MarshalText() ([]byte, error) {
	if !m.known() {
		return nil, fmt.Errorf("%w: mechanism %d", ErrConfig, int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText is ParseMechanism.
func (m *Mechanism) UnmarshalText(b []byte) error {
	v, err := ParseMechanism(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func (m Mechanism) known() bool { return m == GSP || m == VCG || m == FirstPrice }

// Bid is one eligible candidate.
type Bid struct {
	Ad, Campaign int64
	CPC          float64 // the bid: the most the advertiser will pay per click (> 0)
	PCTR         float64 // click probability in the top slot, position effect removed, in (0,1)
	Value        float64 // user-value term (predicted engagement or relevance), unit-free in [0,1]
}

// valid reports whether b can take part at all. NaN fails every comparison, so it is
// rejected without a separate test; the upper bounds reject +Inf.
func (b *Bid) valid() bool {
	return b.CPC > 0 && b.CPC <= math.MaxFloat64 &&
		b.PCTR > 0 && b.PCTR < 1 &&
		b.Value >= 0 && b.Value <= math.MaxFloat64
}

// Config is one placement's auction rules.
type Config struct {
	Mechanism Mechanism
	// Slots are the position effects θ_1 ≥ θ_2 ≥ … > 0: the click probability in slot j is
	// PCTR·θ_j, so each must be at most 1; θ_1 = 1 by convention.
	Slots []float64
	// ReserveCPM is the least expected price per 1,000 impressions: a candidate takes part
	// only if 1000·CPC·PCTR ≥ ReserveCPM, and no winner pays less than the reserve per
	// click, ReserveCPM/1000/PCTR.
	ReserveCPM float64
	// Increment is added to a GSP price per click (the usual minimum increment, e.g. one
	// cent), never beyond the winner's bid. The other mechanisms ignore it.
	Increment float64
	// UserWeight is λ, in currency per impression: how much a unit of user value is worth
	// in the ranking score CPC·PCTR + λ·Value.
	UserWeight float64
}

// DefaultConfig is GSP over three slots (θ = 1, 0.7, 0.5), a 0.50 CPM reserve, a one-cent
// increment and no user-value term.
func DefaultConfig() Config {
	return Config{Mechanism: GSP, Slots: []float64{1, 0.7, 0.5}, ReserveCPM: 0.5, Increment: 0.01}
}

// Validate names the first problem with c; the error wraps ErrConfig.
func (c Config) Validate() error {
	if !c.Mechanism.known() {
		return fmt.Errorf("%w: mechanism %d, want gsp, vcg or first-price", ErrConfig, int(c.Mechanism))
	}
	if len(c.Slots) == 0 {
		return fmt.Errorf("%w: no slots, want at least one position effect", ErrConfig)
	}
	for j, th := range c.Slots {
		if !(th > 0 && th <= 1) {
			return fmt.Errorf("%w: slot %d position effect %v, want in (0, 1]", ErrConfig, j, th)
		}
		if j > 0 && th > c.Slots[j-1] {
			return fmt.Errorf("%w: slot %d position effect %v exceeds slot %d's %v, want nonincreasing", ErrConfig, j, th, j-1, c.Slots[j-1])
		}
	}
	if !finiteNonNeg(c.ReserveCPM) {
		return fmt.Errorf("%w: ReserveCPM %v, want finite and ≥ 0", ErrConfig, c.ReserveCPM)
	}
	if !finiteNonNeg(c.Increment) {
		return fmt.Errorf("%w: Increment %v, want finite and ≥ 0", ErrConfig, c.Increment)
	}
	if !finiteNonNeg(c.UserWeight) {
		return fmt.Errorf("%w: UserWeight %v, want finite and ≥ 0", ErrConfig, c.UserWeight)
	}
	return nil
}

// ok is Validate without building an error, so Run can check its config on every call
// without allocating.
func (c *Config) ok() bool {
	if !c.Mechanism.known() || len(c.Slots) == 0 {
		return false
	}
	for j, th := range c.Slots {
		if !(th > 0 && th <= 1) || (j > 0 && th > c.Slots[j-1]) {
			return false
		}
	}
	return finiteNonNeg(c.ReserveCPM) && finiteNonNeg(c.Increment) && finiteNonNeg(c.UserWeight)
}

func finiteNonNeg(x float64) bool { return x >= 0 && x <= math.MaxFloat64 }

// Win is one filled slot.
type Win struct {
	Index             int     // index into the bids slice
	Slot              int     // 0-based
	Score             float64 // ranking score CPC·PCTR + λ·Value
	CPC               float64 // price per click charged
	CostPerImpression float64 // CPC·PCTR·θ_slot: what the impression is billed
}
