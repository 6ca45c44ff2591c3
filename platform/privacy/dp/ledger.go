package dp

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Budget is an (ε, δ) pair: a ledger's total, what it has spent, or one query's cost.
type Budget struct {
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// Entry is one query the ledger admitted.
type Entry struct {
	Query     string  `json:"query"`
	Mechanism string  `json:"mechanism"`
	Epsilon   float64 `json:"epsilon"`
	Delta     float64 `json:"delta"`
	// NoiseMultiplier is the noise scale over the sensitivity (σ/Δ₂ or b/Δ₁), which RDP
	// composition needs; 0 when the query was charged by its (ε, δ) alone.
	NoiseMultiplier float64 `json:"noise_multiplier,omitempty"`
	// Releases is how many noisy answers of that multiplier the query made (a Mean makes
	// two); 0 means 1.
	Releases int       `json:"releases,omitempty"`
	At       time.Time `json:"at"`
}

// Record is a ledger's state, the form it is persisted and audited in.
type Record struct {
	Dataset     string      `json:"dataset"`
	Total       Budget      `json:"total"`
	Spent       Budget      `json:"spent"`
	Composition Composition `json:"composition"`
	Entries     []Entry     `json:"entries"`
	// Refused counts the queries turned away for want of budget.
	Refused int `json:"refused"`
}

// Composition says how a ledger adds up its queries.
type Composition string

const (
	// Basic composition: the ε and δ of the queries add.
	Basic Composition = "basic"
	// RDP composition: the queries' Rényi-DP curves add, and the total is converted to ε at
	// the budget's δ (Mironov 2017); the spend reported is the smaller of that and the basic
	// sum, both valid. Many Gaussian queries fit where basic composition admits few. Every
	// query must carry its noise multiplier (Releaser does).
	RDP Composition = "rdp"
)

// Ledger holds one dataset's privacy budget. Every release spends from it first; a query
// that would take the spend past the total is refused and spends nothing. It is safe for
// concurrent use.
type Ledger struct {
	mu      sync.Mutex
	dataset string
	comp    Composition
	total   Budget
	spent   Budget    // basic sums
	curve   []float64 // RDP, per rdpOrders (RDP ledgers)
	entries []Entry
	refused int
	now     func() time.Time
}

// slack absorbs float rounding when queries are meant to use the budget exactly.
const slack = 1e-9

// NewLedger opens a ledger for dataset with the given total budget and basic composition.
func NewLedger(dataset string, total Budget) (*Ledger, error) {
	return NewLedgerWith(dataset, total, Basic)
}

// NewLedgerWith opens a ledger that composes as comp. An RDP ledger needs δ > 0.
func NewLedgerWith(dataset string, total Budget, comp Composition) (*Ledger, error) {
	if dataset == "" {
		return nil, fmt.Errorf("%w: ledger needs a dataset name", ErrInvalid)
	}
	if err := checkEps(total.Epsilon); err != nil {
		return nil, err
	}
	if !(total.Delta >= 0 && total.Delta < 1) {
		return nil, fmt.Errorf("%w: total δ = %v, want in [0, 1)", ErrInvalid, total.Delta)
	}
	l := &Ledger{dataset: dataset, comp: comp, total: total, now: time.Now}
	switch comp {
	case Basic:
	case RDP:
		if total.Delta <= 0 {
			return nil, fmt.Errorf("%w: an RDP ledger needs a total δ > 0", ErrInvalid)
		}
		l.curve = make([]float64, len(rdpOrders))
	default:
		return nil, fmt.Errorf("%w: unknown composition %q", ErrInvalid, comp)
	}
	return l, nil
}

// Restore rebuilds a ledger from its Record, re-adding the entries (the stored Spent is
// not trusted, it is recomputed).
func Restore(rec Record) (*Ledger, error) {
	comp := rec.Composition
	if comp == "" {
		comp = Basic
	}
	l, err := NewLedgerWith(rec.Dataset, rec.Total, comp)
	if err != nil {
		return nil, err
	}
	for _, e := range rec.Entries {
		l.spent.Epsilon += e.Epsilon
		l.spent.Delta += e.Delta
		if l.curve != nil {
			c, err := entryCurve(e)
			if err != nil {
				return nil, err
			}
			for i := range c {
				l.curve[i] += c[i]
			}
		}
	}
	l.entries = append(l.entries, rec.Entries...)
	l.refused = rec.Refused
	return l, nil
}

// Spend charges a query of cost (ε, δ), or refuses it with ErrBudgetExceeded and leaves
// the ledger as it was. An RDP ledger refuses it as invalid: it needs the noise multiplier
// (SpendNoise).
func (l *Ledger) Spend(query, mechanism string, cost Budget) error {
	return l.charge(Entry{Query: query, Mechanism: mechanism, Epsilon: cost.Epsilon, Delta: cost.Delta})
}

// SpendNoise charges a query of cost (ε, δ) made by mechanism with the given noise
// multiplier (σ/Δ₂ for the Gaussian, b/Δ₁ for Laplace).
func (l *Ledger) SpendNoise(query string, mechanism Mechanism, cost Budget, noiseMultiplier float64) error {
	return l.charge(Entry{Query: query, Mechanism: string(mechanism), Epsilon: cost.Epsilon, Delta: cost.Delta, NoiseMultiplier: noiseMultiplier})
}

func entryCurve(e Entry) ([]float64, error) {
	if !(e.NoiseMultiplier > 0) || math.IsInf(e.NoiseMultiplier, 0) {
		return nil, fmt.Errorf("%w: RDP composition needs the noise multiplier of query %q", ErrInvalid, e.Query)
	}
	c := make([]float64, len(rdpOrders))
	for i, a := range rdpOrders {
		switch Mechanism(e.Mechanism) {
		case Gaussian:
			c[i] = GaussianRDP(a, e.NoiseMultiplier)
		case Laplace:
			c[i] = LaplaceRDP(a, e.NoiseMultiplier)
		default:
			return nil, fmt.Errorf("%w: RDP composition of mechanism %q", ErrInvalid, e.Mechanism)
		}
		c[i] *= float64(max(1, e.Releases))
	}
	return c, nil
}

// spentOf is the (ε, δ) guarantee of the queries so far, given the sums and curve.
func (l *Ledger) spentOf(basic Budget, curve []float64) Budget {
	if curve == nil || len(l.entries) == 0 && basic.Epsilon == 0 {
		return basic
	}
	e := rdpToDP(curve, l.total.Delta)
	if basic.Delta <= l.total.Delta*(1+slack) && basic.Epsilon < e {
		return Budget{Epsilon: basic.Epsilon, Delta: l.total.Delta}
	}
	return Budget{Epsilon: e, Delta: l.total.Delta}
}

func (l *Ledger) charge(e Entry) error {
	if err := checkEps(e.Epsilon); err != nil {
		return err
	}
	if !(e.Delta >= 0 && e.Delta < 1) {
		return fmt.Errorf("%w: δ = %v, want in [0, 1)", ErrInvalid, e.Delta)
	}
	var add []float64
	if l.comp == RDP {
		var err error
		if add, err = entryCurve(e); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	basic := Budget{Epsilon: l.spent.Epsilon + e.Epsilon, Delta: l.spent.Delta + e.Delta}
	var curve []float64
	after := basic
	if add != nil {
		curve = make([]float64, len(add))
		for i := range add {
			curve[i] = l.curve[i] + add[i]
		}
		after = l.spentOf(basic, curve)
	}
	if after.Epsilon > l.total.Epsilon*(1+slack) || after.Delta > l.total.Delta*(1+slack)+math.SmallestNonzeroFloat64 {
		l.refused++
		rem := l.remainingLocked()
		return fmt.Errorf("%w: dataset %q: %s needs ε=%g δ=%g but only ε=%g δ=%g of ε=%g δ=%g remain (%s composition)",
			ErrBudgetExceeded, l.dataset, e.Query, e.Epsilon, e.Delta,
			rem.Epsilon, rem.Delta, l.total.Epsilon, l.total.Delta, l.comp)
	}
	l.spent = basic
	if curve != nil {
		l.curve = curve
	}
	e.At = l.now().UTC()
	l.entries = append(l.entries, e)
	return nil
}

func (l *Ledger) remainingLocked() Budget {
	s := l.spentOf(l.spent, l.curve)
	return Budget{Epsilon: math.Max(0, l.total.Epsilon-s.Epsilon), Delta: math.Max(0, l.total.Delta-s.Delta)}
}

// Spent is the (ε, δ) guarantee of the queries so far: the sums under basic composition;
// under RDP, ε at the total δ (or the basic sum, if smaller and within δ).
func (l *Ledger) Spent() Budget {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spentOf(l.spent, l.curve)
}

// Remaining is the budget left.
func (l *Ledger) Remaining() Budget {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remainingLocked()
}

// Record returns a copy of the ledger's state for persisting or auditing (encode it as JSON).
func (l *Ledger) Record() Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Record{Dataset: l.dataset, Total: l.total, Spent: l.spentOf(l.spent, l.curve), Composition: l.comp,
		Entries: append([]Entry(nil), l.entries...), Refused: l.refused}
}
