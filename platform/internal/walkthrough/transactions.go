package walkthrough

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// tx is the card transaction the event-log scenarios move around.
type tx struct {
	ID       string    `json:"id"`
	Customer int       `json:"customer"`
	Amount   float64   `json:"amount"`
	Time     time.Time `json:"time"`
}

// transactions makes n deterministic transactions, spread over days of event time.
func transactions(seed uint64, n, customers int, start time.Time, days int) []tx {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]tx, n)
	span := time.Duration(days) * 24 * time.Hour
	for i := range out {
		out[i] = tx{
			ID:       fmt.Sprintf("tx-%06d", i),
			Customer: rng.IntN(customers),
			Amount:   math.Round((5+rng.ExpFloat64()*40)*100) / 100,
			Time:     start.Add(time.Duration(int64(span) * int64(i) / int64(n))),
		}
	}
	return out
}

func (t tx) event(subject string) eventlog.Event {
	data, _ := json.Marshal(t) // a struct of plain fields always marshals
	return eventlog.Event{ID: t.ID, Subject: subject, Time: t.Time, Data: data}
}

func events(txs []tx, subject string) []eventlog.Event {
	evs := make([]eventlog.Event, len(txs))
	for i, t := range txs {
		evs[i] = t.event(subject)
	}
	return evs
}

func decodeTx(m *eventlog.Message) (tx, error) {
	var t tx
	if err := json.Unmarshal(m.Data, &t); err != nil {
		return t, eventlog.Permanent(fmt.Errorf("decode transaction %s: %w", m.ID, err))
	}
	return t, nil
}

// ledger is per-customer spend, the state the scenarios build from the log. It stands for a
// database that outlives any one consumer process.
type ledger struct {
	spend   map[int]float64
	applied map[string]bool // ids applied, kept with the effects, for idempotence
	events  int
}

func newLedger() *ledger { return &ledger{spend: map[int]float64{}, applied: map[string]bool{}} }

// apply adds a transaction once, however often it is delivered.
func (l *ledger) apply(t tx) bool {
	if l.applied[t.ID] {
		return false
	}
	l.applied[t.ID] = true
	l.spend[t.Customer] += t.Amount
	l.events++
	return true
}

// applyNaive adds every delivery: what a handler without idempotence does.
func (l *ledger) applyNaive(t tx) {
	l.spend[t.Customer] += t.Amount
	l.events++
}

func (l *ledger) total() float64 {
	s := 0.0
	for _, v := range l.spend {
		s += v
	}
	return math.Round(s*100) / 100
}

// equal reports whether two ledgers hold the same spend per customer, to the cent.
func (l *ledger) equal(o *ledger) bool {
	if len(l.spend) != len(o.spend) {
		return false
	}
	for k, v := range l.spend {
		if math.Abs(v-o.spend[k]) > 0.005 {
			return false
		}
	}
	return true
}

func sumAmounts(txs []tx) float64 {
	s := 0.0
	for _, t := range txs {
		s += t.Amount
	}
	return math.Round(s*100) / 100
}

func isNotFound(err error) bool { return errors.Is(err, eventlog.ErrStreamNotFound) }
