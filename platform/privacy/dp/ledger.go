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
	Query     string    `json:"query"`
	Mechanism string    `json:"mechanism"`
	Epsilon   float64   `json:"epsilon"`
	Delta     float64   `json:"delta"`
	At        time.Time `json:"at"`
}

// Record is a ledger's state, the form it is persisted and audited in.
type Record struct {
	Dataset     string  `json:"dataset"`
	Total       Budget  `json:"total"`
	Spent       Budget  `json:"spent"`
	Composition string  `json:"composition"`
	Entries     []Entry `json:"entries"`
	// Refused counts the queries turned away for want of budget.
	Refused int `json:"refused"`
}

// Ledger holds one dataset's privacy budget. Every release spends from it first; a query
// that would take the sum past the total is refused and spends nothing. Composition is
// basic: ε and δ add. It is safe for concurrent use.
type Ledger struct {
	mu      sync.Mutex
	dataset string
	total   Budget
	spent   Budget
	entries []Entry
	refused int
	now     func() time.Time
}

// slack absorbs float rounding when queries are meant to use the budget exactly.
const slack = 1e-9

// NewLedger opens a ledger for dataset with the given total budget.
func NewLedger(dataset string, total Budget) (*Ledger, error) {
	if dataset == "" {
		return nil, fmt.Errorf("%w: ledger needs a dataset name", ErrInvalid)
	}
	if err := checkEps(total.Epsilon); err != nil {
		return nil, err
	}
	if !(total.Delta >= 0 && total.Delta < 1) {
		return nil, fmt.Errorf("%w: total δ = %v, want in [0, 1)", ErrInvalid, total.Delta)
	}
	return &Ledger{dataset: dataset, total: total, now: time.Now}, nil
}

// Restore rebuilds a ledger from its Record, re-adding the entries (the stored Spent is
// not trusted, it is recomputed).
func Restore(rec Record) (*Ledger, error) {
	l, err := NewLedger(rec.Dataset, rec.Total)
	if err != nil {
		return nil, err
	}
	for _, e := range rec.Entries {
		l.spent.Epsilon += e.Epsilon
		l.spent.Delta += e.Delta
	}
	l.entries = append(l.entries, rec.Entries...)
	l.refused = rec.Refused
	return l, nil
}

// Spend charges a query of cost (ε, δ), or refuses it with ErrBudgetExceeded and leaves
// the ledger as it was.
func (l *Ledger) Spend(query, mechanism string, cost Budget) error {
	if err := checkEps(cost.Epsilon); err != nil {
		return err
	}
	if !(cost.Delta >= 0 && cost.Delta < 1) {
		return fmt.Errorf("%w: δ = %v, want in [0, 1)", ErrInvalid, cost.Delta)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, d := l.spent.Epsilon+cost.Epsilon, l.spent.Delta+cost.Delta
	if e > l.total.Epsilon*(1+slack) || d > l.total.Delta*(1+slack)+math.SmallestNonzeroFloat64 {
		l.refused++
		return fmt.Errorf("%w: dataset %q: %s needs ε=%g δ=%g but only ε=%g δ=%g of ε=%g δ=%g remain",
			ErrBudgetExceeded, l.dataset, query, cost.Epsilon, cost.Delta,
			math.Max(0, l.total.Epsilon-l.spent.Epsilon), math.Max(0, l.total.Delta-l.spent.Delta),
			l.total.Epsilon, l.total.Delta)
	}
	l.spent = Budget{Epsilon: e, Delta: d}
	l.entries = append(l.entries, Entry{Query: query, Mechanism: mechanism, Epsilon: cost.Epsilon, Delta: cost.Delta, At: l.now().UTC()})
	return nil
}

// Spent is the budget used so far.
func (l *Ledger) Spent() Budget {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spent
}

// Remaining is the budget left.
func (l *Ledger) Remaining() Budget {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Budget{Epsilon: math.Max(0, l.total.Epsilon-l.spent.Epsilon), Delta: math.Max(0, l.total.Delta-l.spent.Delta)}
}

// Record returns a copy of the ledger's state for persisting or auditing (encode it as JSON).
func (l *Ledger) Record() Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Record{Dataset: l.dataset, Total: l.total, Spent: l.spent, Composition: "basic",
		Entries: append([]Entry(nil), l.entries...), Refused: l.refused}
}
