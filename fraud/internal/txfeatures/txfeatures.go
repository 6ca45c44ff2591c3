// Package txfeatures defines the handbook's transaction features on the platform's feature
// store: one definition (two aggregation views and a transform) executed offline by
// features.ComputeBatch and online by features.Aggregator, plus the two calendar features
// computed from the transaction itself.
//
// # Semantics against the handbook's
//
// The handbook (chapter 3.4) computes customer windows with pandas rolling("Nd") over the
// customer's rows, the interval (t-N days, t], and terminal windows as rolling(D+N) minus
// rolling(D), the interval (t-D-N days, t-D], D = 7 days. The platform's window rule with
// bucket B (doc of platform/features) holds bucket(t)-d-n+1 <= bucket(e) <= bucket(t)-d.
// With B = 1 second and whole-second event times (as the simulator and the handbook's data
// have), bucket(e) >= bucket(t)-n+1 means e > t-N, so both intervals are the handbook's
// exactly.
//
// # Ties: arrival order
//
// Two transactions of one customer in the same second are counted in arrival order, by
// transaction id: a transaction's windows include the earlier-id transactions of its
// second, not the later ones. That is what the streaming path sees (it reads a
// transaction's vector after applying it and everything before it in the log, in id order
// within a second), and it is the handbook's rule too (pandas' rolling counts rows up to
// the current one, in its id order). Offline, the batch execution emits one row per
// event (features.BatchOptions.EachEvent) and the point-in-time join bounds each label
// by its log position (features.Labels.Seq). Terminal windows end 7 days before the
// transaction, so a tie never falls in them. ExactBucket is the default;
// Views takes another bucket when speed matters more than exactness (see the case study's
// doc for what a coarser bucket changes).
package txfeatures

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
)

// ExactBucket makes the windows the handbook's exactly for whole-second event times.
const ExactBucket = time.Second

// Delay is how long after a transaction its fraud label is assumed known (the handbook's
// 7 days); terminal windows end this long before the transaction.
const Delay = 7 * 24 * time.Hour

// WindowDays are the handbook's window lengths.
var WindowDays = []int{1, 7, 30}

// View names.
const (
	CustomerView = "customer_spending"
	TerminalView = "terminal_risk"
)

var (
	customerEntity = features.Entity{Name: "customer", JoinKey: "customer_id", PII: true} // keys are tokens: events.Tokenize
	terminalEntity = features.Entity{Name: "terminal", JoinKey: "terminal_id"}
)

const day = 24 * time.Hour

// Views returns the customer and terminal views with buckets of the given size.
func Views(bucket time.Duration) (customer, terminal features.FeatureView) {
	customer = features.FeatureView{
		Name: CustomerView, Entity: customerEntity, Source: "fraud.tx",
		Inputs: []string{"amount"}, Bucket: bucket, Transform: byCustomer,
	}
	terminal = features.FeatureView{
		Name: TerminalView, Entity: terminalEntity, Source: "fraud.tx",
		Inputs: []string{"fraud", "tx"}, Bucket: bucket, Transform: byTerminal,
	}
	for _, d := range WindowDays {
		w := features.Window{Length: time.Duration(d) * day}
		customer.Aggregations = append(customer.Aggregations,
			features.Aggregation{Name: fmt.Sprintf("nb_tx_%dd", d), Func: features.Count, Window: w},
			features.Aggregation{Name: fmt.Sprintf("avg_amount_%dd", d), Func: features.Mean, Input: "amount", Window: w})
		dw := features.Window{Length: time.Duration(d) * day, Delay: Delay}
		terminal.Aggregations = append(terminal.Aggregations,
			features.Aggregation{Name: fmt.Sprintf("nb_tx_%dd_delay7d", d), Func: features.Sum, Input: "tx", Window: dw},
			features.Aggregation{Name: fmt.Sprintf("risk_%dd_delay7d", d), Func: features.Ratio, Input: "fraud", Denominator: "tx", Window: dw})
	}
	return customer, terminal
}

// Register adds both views to r, for transactions that carry their labels (a batch table,
// where TX_FRAUD is known): no event is late.
func Register(r *features.Registry, bucket time.Duration) error {
	return RegisterLabelled(r, bucket, 0)
}

// RegisterLabelled adds both views to r for a stream whose labels arrive on their own
// (LabelEvent), up to labelLateness after the transaction: the terminal view accepts events
// that much behind the newest it has seen. A label that arrives within Delay of its
// transaction is counted exactly as the handbook counts it; a later one only from the
// moment it arrives, and one later than labelLateness is dropped and counted.
func RegisterLabelled(r *features.Registry, bucket, labelLateness time.Duration) error {
	return RegisterStream(r, bucket, 0, labelLateness)
}

// RegisterStream is RegisterLabelled for a stream whose transactions may also arrive out
// of event-time order, by up to txLateness (concurrent producers, several card networks):
// both views accept a transaction that much behind the newest they have seen.
func RegisterStream(r *features.Registry, bucket, txLateness, labelLateness time.Duration) error {
	c, t := Views(bucket)
	c.AllowedLateness = txLateness
	t.AllowedLateness = max(txLateness, labelLateness)
	var refs []string
	for _, v := range []features.FeatureView{c, t} {
		if err := r.RegisterView(v); err != nil {
			return fmt.Errorf("register %s: %w", v.Name, err)
		}
		rv, err := r.View(v.Name)
		if err != nil {
			return err
		}
		for _, f := range rv.Features {
			refs = append(refs, features.FeatureRef{View: v.Name, Feature: f.Name}.String())
		}
	}
	if err := r.RegisterService(features.FeatureService{Name: serviceName, Version: serviceVersion, Features: refs}); err != nil {
		return fmt.Errorf("register %s: %w", Service, err)
	}
	return nil
}

// Service is the feature service over both views ("name@version"): a model records its
// schema hash (features.Registry.SchemaHash) when it is trained, and serving refuses a
// version whose hash differs from the views it is fed with (a changed window, bucket or
// lateness), keeping the one it has.
const Service = serviceName + "@1"

const (
	serviceName    = "fraud_tx"
	serviceVersion = 1
)

// Event is the feature-store event of a transaction at log position seq. Its payload is
// "customer|terminal|amount|fraud|tx": a transaction has tx = 1, a label arriving later
// (fraud = 1, tx = 0) adds to a terminal's frauds without counting a transaction.
func Event(t sim.Transaction, seq uint64) features.Event {
	f := "0"
	if t.Fraud {
		f = "1"
	}
	data := strconv.Itoa(t.Customer) + "|" + strconv.Itoa(t.Terminal) + "|" +
		strconv.FormatFloat(t.Amount, 'f', -1, 64) + "|" + f + "|1"
	return features.Event{ID: strconv.FormatInt(t.ID, 10), Time: t.Time, Seq: seq, Data: []byte(data)}
}

// TxEventUnlabelled is a transaction as a stream sees it when it happens: its label is not
// known yet (fraud = 0).
func TxEventUnlabelled(t sim.Transaction, seq uint64) features.Event {
	t.Fraud = false
	return Event(t, seq)
}

// LabelEvent is a fraud label for transaction t arriving later: at t's event time, so it
// falls in the windows t falls in, with fraud = 1 and tx = 0, and its own id.
func LabelEvent(t sim.Transaction, seq uint64) features.Event {
	data := strconv.Itoa(t.Customer) + "|" + strconv.Itoa(t.Terminal) + "|0|1|0"
	return features.Event{ID: "label-" + strconv.FormatInt(t.ID, 10), Time: t.Time, Seq: seq, Data: []byte(data)}
}

type payload struct {
	customer, terminal string
	amount             float64
	fraud, tx          float64
}

func decode(data []byte) (payload, error) {
	parts := strings.Split(string(data), "|")
	if len(parts) != 5 {
		return payload{}, fmt.Errorf("transaction event %q: want 5 fields", data)
	}
	p := payload{customer: parts[0], terminal: parts[1]}
	var err error
	if p.amount, err = strconv.ParseFloat(parts[2], 64); err != nil {
		return p, fmt.Errorf("transaction event %q: amount: %w", data, err)
	}
	if p.fraud, err = strconv.ParseFloat(parts[3], 64); err != nil {
		return p, fmt.Errorf("transaction event %q: fraud: %w", data, err)
	}
	if p.tx, err = strconv.ParseFloat(parts[4], 64); err != nil {
		return p, fmt.Errorf("transaction event %q: tx: %w", data, err)
	}
	return p, nil
}

func byCustomer(ev features.Event, in *features.Input) error {
	p, err := decode(ev.Data)
	if err != nil {
		return err
	}
	if p.tx == 0 { // a label, not a transaction
		return features.ErrSkip
	}
	in.Entity = p.customer
	in.Fields[0] = p.amount
	return nil
}

func byTerminal(ev features.Event, in *features.Input) error {
	p, err := decode(ev.Data)
	if err != nil {
		return err
	}
	in.Entity = p.terminal
	in.Fields[0] = p.fraud
	in.Fields[1] = p.tx
	return nil
}
