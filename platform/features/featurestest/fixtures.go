// Package featurestest holds what tests of the feature store share: small definitions
// covering every value kind and aggregation, a synthetic transaction stream, and the
// conformance suite every features.OnlineStore implementation must pass.
package featurestest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
)

// Tx is a card transaction, the event the fixtures aggregate.
type Tx struct {
	ID       string
	Customer string
	Terminal string
	Amount   float64
	Fraud    bool
	Time     time.Time
}

// Encode is the event payload: "customer|terminal|amount|fraud".
func (t Tx) Encode() []byte {
	f := "0"
	if t.Fraud {
		f = "1"
	}
	return []byte(t.Customer + "|" + t.Terminal + "|" + strconv.FormatFloat(t.Amount, 'f', -1, 64) + "|" + f)
}

// Event wraps the transaction as a feature-store event at log position seq.
func (t Tx) Event(seq uint64) features.Event {
	return features.Event{ID: t.ID, Time: t.Time, Seq: seq, Data: t.Encode()}
}

// DecodeTx parses Encode's payload.
func DecodeTx(data []byte) (customer, terminal string, amount float64, fraud bool, err error) {
	s := string(data)
	customer, s, ok1 := strings.Cut(s, "|")
	terminal, s, ok2 := strings.Cut(s, "|")
	amt, fr, ok3 := strings.Cut(s, "|")
	if !ok1 || !ok2 || !ok3 {
		return "", "", 0, false, fmt.Errorf("malformed transaction %q", data)
	}
	amount, err = strconv.ParseFloat(amt, 64)
	if err != nil {
		return "", "", 0, false, fmt.Errorf("malformed amount in %q: %w", data, err)
	}
	return customer, terminal, amount, fr == "1", nil
}

// ByCustomer extracts (amount) keyed by customer.
func ByCustomer(ev features.Event, in *features.Input) error {
	c, _, amount, _, err := DecodeTx(ev.Data)
	if err != nil {
		return err
	}
	in.Entity = c
	in.Fields[0] = amount
	return nil
}

// ByTerminal extracts (fraud as 0/1, 1) keyed by terminal.
func ByTerminal(ev features.Event, in *features.Input) error {
	_, term, _, fraud, err := DecodeTx(ev.Data)
	if err != nil {
		return err
	}
	in.Entity = term
	if fraud {
		in.Fields[0] = 1
	}
	return nil
}

var (
	// Customer is the customer entity.
	Customer = features.Entity{Name: "customer", JoinKey: "customer_id", PII: true}
	// Terminal is the payment terminal entity.
	Terminal = features.Entity{Name: "terminal", JoinKey: "terminal_id"}
)

const day = 24 * time.Hour

// CustomerSpending is the fraud case study's customer view: count and mean amount over
// 1, 7 and 30 days ending at and including the transaction (hourly buckets).
func CustomerSpending() features.FeatureView {
	v := features.FeatureView{
		Name: "customer_spending", Entity: Customer, TTL: 30 * day, Source: "tx.>",
		Inputs: []string{"amount"}, Bucket: time.Hour, AllowedLateness: 10 * time.Minute,
		Transform: ByCustomer,
	}
	for _, d := range []int{1, 7, 30} {
		w := features.Window{Length: time.Duration(d) * day}
		v.Aggregations = append(v.Aggregations,
			features.Aggregation{Name: fmt.Sprintf("tx_count_%dd", d), Func: features.Count, Window: w},
			features.Aggregation{Name: fmt.Sprintf("amount_mean_%dd", d), Func: features.Mean, Input: "amount", Window: w})
	}
	return v
}

// TerminalRisk is the fraud case study's terminal view: count and fraud rate over 1, 7 and
// 30 days, delayed by 7 days because fraud labels arrive up to a week late.
func TerminalRisk() features.FeatureView {
	v := features.FeatureView{
		Name: "terminal_risk", Entity: Terminal, TTL: 30 * day, Source: "tx.>",
		Inputs: []string{"fraud"}, Bucket: day, AllowedLateness: 10 * time.Minute,
		Transform: ByTerminal,
	}
	for _, d := range []int{1, 7, 30} {
		w := features.Window{Length: time.Duration(d) * day, Delay: 7 * day}
		v.Aggregations = append(v.Aggregations,
			features.Aggregation{Name: fmt.Sprintf("tx_count_%dd_delay7d", d), Func: features.Count, Window: w},
			features.Aggregation{Name: fmt.Sprintf("fraud_rate_%dd_delay7d", d), Func: features.Ratio, Input: "fraud", Window: w})
	}
	return v
}

// Profile is a plain view with one feature of every kind, the vector an embedding of 4.
func Profile() features.FeatureView {
	return features.FeatureView{
		Name: "profile", Entity: Customer, TTL: time.Hour, Source: "profiles",
		Features: []features.Feature{
			{Name: "age", Kind: features.KindInt},
			{Name: "score", Kind: features.KindFloat},
			{Name: "country", Kind: features.KindString},
			{Name: "verified", Kind: features.KindBool},
			{Name: "embedding", Kind: features.KindVector, Dim: 4},
		},
		Transform: func(ev features.Event, in *features.Input) error {
			parts := strings.Split(string(ev.Data), "|")
			if len(parts) != 2 {
				return fmt.Errorf("malformed profile %q", ev.Data)
			}
			in.Entity = parts[0]
			age, err := strconv.Atoi(parts[1])
			if err != nil {
				return err
			}
			in.Values[0] = features.Int(int64(age))
			return nil
		},
	}
}

// ProfileRow is a complete profile row for entity at t.
func ProfileRow(entity string, t time.Time, seq uint64, age int64) features.Row {
	return features.Row{Entity: entity, Time: t, Seq: seq, Values: []features.Value{
		features.Int(age), features.Float(float64(age) / 10), features.String("c" + strconv.FormatInt(age%7, 10)),
		features.Bool(age%2 == 0), features.Vector([]float32{float32(age), 1, 2, 3}),
	}}
}

// Registry holds CustomerSpending, TerminalRisk and Profile, and a service over them.
func Registry() (*features.Registry, error) {
	r := features.NewRegistry()
	for _, v := range []features.FeatureView{CustomerSpending(), TerminalRisk(), Profile()} {
		if err := r.RegisterView(v); err != nil {
			return nil, err
		}
	}
	err := r.RegisterService(features.FeatureService{Name: "fraud_model", Version: 1, Features: []string{
		"customer_spending:tx_count_1d", "customer_spending:amount_mean_7d", "terminal_risk:fraud_rate_30d_delay7d",
	}})
	return r, err
}

// Transactions makes n deterministic transactions, in time order, over the given span.
func Transactions(seed uint64, n, customers, terminals int, start time.Time, span time.Duration) []Tx {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Tx, n)
	for i := range out {
		out[i] = Tx{
			ID:       fmt.Sprintf("tx-%08d", i),
			Customer: "c" + strconv.Itoa(rng.IntN(customers)),
			Terminal: "t" + strconv.Itoa(rng.IntN(terminals)),
			Amount:   math.Round((5+rng.ExpFloat64()*40)*100) / 100,
			Fraud:    rng.Float64() < 0.02,
			Time:     start.Add(time.Duration(float64(span) * float64(i) / float64(n))),
		}
	}
	return out
}
