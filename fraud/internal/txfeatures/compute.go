package txfeatures

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
)

// ErrOrder says transactions were not in time order with distinct ids, which the windows'
// watermark (no allowed lateness) needs.
var ErrOrder = errors.New("transactions must be in time order with distinct ids")

type key struct {
	entity string
	seq    uint64
}

func views(reg *features.Registry) (c, t *features.FeatureView, err error) {
	if c, err = reg.View(CustomerView); err != nil {
		return nil, nil, err
	}
	if t, err = reg.View(TerminalView); err != nil {
		return nil, nil, err
	}
	return c, t, nil
}

// Offline computes every transaction's vector with the batch execution: the n×Width
// matrix, row-major, in the order of txs, which must be in time order (transactions of one
// second in id order: their arrival order, see the package doc, Ties). It looks each
// transaction's own rows up by (entity, log position) in features.ComputeBatch's output
// (one row per event); Build takes
// the platform's path instead (offline store, point-in-time join) and gives the same
// matrix bit for bit.
func Offline(reg *features.Registry, txs []sim.Transaction) ([]float64, error) {
	cv, tv, err := views(reg)
	if err != nil {
		return nil, fmt.Errorf("offline features: %w", err)
	}
	events := Events(txs)
	tables := make([]map[key][]features.Value, 2)
	for vi, v := range []*features.FeatureView{cv, tv} {
		rows, err := computeView(v, events)
		if err != nil {
			return nil, fmt.Errorf("offline features: %w", err)
		}
		m := make(map[key][]features.Value, len(rows))
		for _, r := range rows {
			m[key{r.Entity, r.Seq}] = r.Values
		}
		tables[vi] = m
	}
	out := make([]float64, len(txs)*Width)
	for i, tx := range txs {
		seq := features.StreamSeq(events[i].Seq)
		c := tables[0][key{strconv.Itoa(tx.Customer), seq}]
		term := tables[1][key{strconv.Itoa(tx.Terminal), seq}]
		if c == nil || term == nil {
			return nil, fmt.Errorf("offline features: transaction %d has no row", tx.ID)
		}
		Fill(out[i*Width:(i+1)*Width], tx, c, term)
	}
	return out, nil
}

// Events are txs (in time order) as feature-store events, at log positions 1, 2, ...
func Events(txs []sim.Transaction) []features.Event {
	events := make([]features.Event, len(txs))
	for i, tx := range txs {
		events[i] = Event(tx, uint64(i+1))
	}
	return events
}

// computeView runs the batch execution of v over events, one row per event (the tie
// rule), and refuses any event it did not apply: with labelled transactions in time order,
// none is late, duplicate or invalid.
func computeView(v *features.FeatureView, events []features.Event) ([]features.Row, error) {
	res, err := features.ComputeBatch(v, events, features.BatchOptions{EachEvent: true})
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", v.Name, err)
	}
	if len(res.Errors) > 0 {
		return nil, fmt.Errorf("view %s: %w", v.Name, res.Errors[0])
	}
	if s := res.Stats; s.Dropped > 0 || s.Duplicate > 0 || s.Invalid > 0 {
		return nil, fmt.Errorf("view %s: %w (dropped %d, duplicate %d, invalid %d)",
			v.Name, ErrOrder, s.Dropped, s.Duplicate, s.Invalid)
	}
	return res.Rows, nil
}

// Online is the streaming execution: it applies each transaction to both views'
// aggregators, writes the rows to an online store and reads the transaction's vector back
// from the store, as a scorer would.
type Online struct {
	cust, term *features.Aggregator
	store      features.OnlineStore
	met        *features.Metrics
	seq        uint64
	cf, tf     []string
	written    []written           // applied events whose rows the next write carries (ApplyBatch, ApplyRead)
	res        features.ReadResult // ApplyRead's vectors, reused (features.WriteReadInto)
}

// written is an event applied to a view, observed in the metrics once its rows are stored.
type written struct {
	view    string
	at      time.Time
	outcome features.Outcome
}

// NewOnline builds the streaming execution over reg's views, writing to store. met (may be
// nil) counts each view's events by outcome and holds its freshness: the event time of the
// newest event whose rows the online store took, so a store that refuses writes shows as
// a growing casebook_feature_freshness_seconds.
func NewOnline(reg *features.Registry, store features.OnlineStore, met *features.Metrics) (*Online, error) {
	cv, tv, err := views(reg)
	if err != nil {
		return nil, fmt.Errorf("online features: %w", err)
	}
	o := &Online{store: store, met: met, cf: cv.FeatureNames(), tf: tv.FeatureNames()}
	if o.cust, err = features.NewAggregator(cv); err != nil {
		return nil, fmt.Errorf("online features: %w", err)
	}
	if o.term, err = features.NewAggregator(tv); err != nil {
		return nil, fmt.Errorf("online features: %w", err)
	}
	return o, nil
}

// Names is the schema of the vectors Vector and Vectors write: the transaction's own three
// columns, then the customer view's features and the terminal view's, in the order the
// registered views list them, by their handbook names (Names, when the views are Views').
func (o *Online) Names() []string {
	n := append([]string(nil), Names[:3]...)
	for _, f := range o.cf {
		n = append(n, columnOf(CustomerView, f))
	}
	for _, f := range o.tf {
		n = append(n, columnOf(TerminalView, f))
	}
	return n
}

// Apply feeds one transaction, with its label, to both views and writes the rows it
// changes. A transaction applied before is a no-op; one older than the watermark is an
// ErrOrder.
func (o *Online) Apply(ctx context.Context, tx sim.Transaction) error {
	o.seq++
	return o.apply(ctx, Event(tx, o.seq))
}

// ApplyUnlabelled feeds a transaction whose label is not known yet.
func (o *Online) ApplyUnlabelled(ctx context.Context, tx sim.Transaction) error {
	o.seq++
	return o.apply(ctx, TxEventUnlabelled(tx, o.seq))
}

// ApplyLabel feeds a fraud label for tx that arrived after it.
func (o *Online) ApplyLabel(ctx context.Context, tx sim.Transaction) error {
	o.seq++
	return o.apply(ctx, LabelEvent(tx, o.seq))
}

func (o *Online) apply(ctx context.Context, ev features.Event) error {
	for _, a := range []struct {
		agg  *features.Aggregator
		view string
	}{{o.cust, CustomerView}, {o.term, TerminalView}} {
		rows, outcome, err := a.agg.Apply(ev)
		if err != nil {
			o.invalid(a.view)
			return fmt.Errorf("online features: %s: %w", a.view, err)
		}
		if outcome == features.Duplicate || outcome == features.Dropped {
			o.observe(written{a.view, ev.Time, outcome})
		}
		if outcome == features.Duplicate {
			continue // applied before (a redelivery): nothing changes
		}
		if outcome == features.Dropped {
			return fmt.Errorf("online features: %s: event %s %v: %w", a.view, ev.ID, outcome, ErrOrder)
		}
		if _, err := o.store.Write(ctx, a.view, rows); err != nil {
			return fmt.Errorf("online features: write %s: %w", a.view, err)
		}
		o.observe(written{a.view, ev.Time, outcome})
	}
	return nil
}

// observe records one event's outcome in the metrics, if there are any.
func (o *Online) observe(w written) {
	if o.met != nil {
		o.met.Observe(w.view, w.at, w.outcome)
	}
}

// invalid counts an event a view's transform rejected.
func (o *Online) invalid(view string) {
	if o.met != nil {
		o.met.ObserveInvalid(view)
	}
}

// stored observes the applied events whose rows a write has just stored.
func (o *Online) stored() {
	for _, w := range o.written {
		o.observe(w)
	}
	o.written = o.written[:0]
}

// Vector reads tx's vector from the store into out (length Width).
func (o *Online) Vector(ctx context.Context, tx sim.Transaction, out []float64) error {
	res, err := o.store.Read(ctx, features.ReadRequest{At: tx.Time, Views: []features.ViewRequest{
		{View: CustomerView, Entities: []string{strconv.Itoa(tx.Customer)}},
		{View: TerminalView, Entities: []string{strconv.Itoa(tx.Terminal)}},
	}})
	if err != nil {
		return fmt.Errorf("online features: read: %w", err)
	}
	vals := func(vr features.ViewResult) []features.Value {
		v := make([]features.Value, len(vr.Features))
		for f := range vr.Features {
			v[f] = vr.Get(0, f).Value // Missing and Stale carry a null: 0
		}
		return v
	}
	Fill(out, tx, vals(res.Views[0]), vals(res.Views[1]))
	return nil
}
