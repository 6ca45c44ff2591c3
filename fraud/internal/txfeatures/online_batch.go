package txfeatures

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
)

// Item is one event of a batch on the online path: a transaction whose label is not known
// yet, or (Label) the chargeback that says Tx was fraud.
type Item struct {
	Tx    sim.Transaction
	Label bool
}

// ApplyBatch applies items in order to both views' aggregators, then writes the rows they
// changed with one write per view (one round trip each on Redis). errs (len(items)) gets
// the error of an item the aggregators refused (ErrOrder: behind the watermark); the
// returned error is the store's, after which the aggregators have still applied every item.
//
// A view keeps the newest row per entity, so when one entity appears twice in items only
// its last row is written: a caller reading vectors "as of" each transaction after the
// write must split its batch so that no entity repeats (the scorer does).
//
// With write false nothing is written (the store is known to be down): the aggregators
// still apply every item, and an entity's next event writes a row computed from all of
// them.
//
// The metrics count an applied event, and move its view's freshness, only once the write
// that carries its rows succeeded: while the store is down or skipped, freshness grows.
func (o *Online) ApplyBatch(ctx context.Context, items []Item, errs []error, write bool) error {
	writes := o.applyItems(items, errs)
	if !write {
		o.written = o.written[:0]
		return nil
	}
	return o.write(ctx, writes)
}

// WarmBatch is ApplyBatch for history replayed at start-up: the items are applied once,
// and a failed write (a store slow to answer on a busy machine, or still starting) is tried
// again, up to attempts times in all, waiting backoff, then twice that, between tries. A
// row is an entity's whole current value, so writing it again changes nothing; without the
// retry one slow write would stop the process from starting.
func (o *Online) WarmBatch(ctx context.Context, items []Item, errs []error, attempts int, backoff time.Duration) error {
	writes := o.applyItems(items, errs)
	pending := slices.Clone(o.written)
	var err error
	for try := range max(attempts, 1) {
		if try > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (after %v)", ctx.Err(), err)
			case <-time.After(backoff << (try - 1)):
			}
			o.written = append(o.written[:0], pending...)
		}
		if err = o.write(ctx, writes); err == nil {
			return nil
		}
	}
	return err
}

func (o *Online) write(ctx context.Context, writes []features.ViewRows) error {
	for _, w := range writes {
		if len(w.Rows) == 0 {
			continue
		}
		if _, err := o.store.Write(ctx, w.View, w.Rows); err != nil {
			o.written = o.written[:0]
			return fmt.Errorf("online features: write %s: %w", w.View, err)
		}
	}
	o.stored()
	return nil
}

// ApplyRead is ApplyBatch followed by Vectors(txs), in one round trip where the store can
// (features.WriteReader). No entity may repeat in items (see ApplyBatch).
func (o *Online) ApplyRead(ctx context.Context, items []Item, errs []error, txs []sim.Transaction, out []float64) error {
	writes := o.applyItems(items, errs)
	if len(txs) == 0 {
		return o.write(ctx, writes) // chargebacks only: nothing to read
	}
	if err := features.WriteReadInto(ctx, o.store, writes, vectorRequest(txs), &o.res); err != nil {
		o.written = o.written[:0]
		return fmt.Errorf("online features: write and read: %w", err)
	}
	o.stored()
	fillVectors(&o.res, txs, out)
	return nil
}

// applyItems feeds items to both views' aggregators in order and returns the rows to write;
// the events applied wait in o.written for the write's outcome.
func (o *Online) applyItems(items []Item, errs []error) []features.ViewRows {
	o.written = o.written[:0]
	var crows, trows []features.Row
	for i, it := range items {
		o.seq++
		var ev features.Event
		if it.Label {
			ev = LabelEvent(it.Tx, o.seq)
		} else {
			ev = TxEventUnlabelled(it.Tx, o.seq)
		}
		for vi, agg := range []*features.Aggregator{o.cust, o.term} {
			name := [2]string{CustomerView, TerminalView}[vi]
			rows, outcome, err := agg.Apply(ev)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("online features: %s: %w", name, err)
				o.invalid(name)
				continue
			case outcome == features.Duplicate:
				// applied before (a redelivery): nothing changes
				o.observe(written{name, ev.Time, outcome})
				continue
			case outcome == features.Dropped:
				errs[i] = fmt.Errorf("online features: %s: event %s %v: %w", name, ev.ID, outcome, ErrOrder)
				o.observe(written{name, ev.Time, outcome})
				continue
			case vi == 0:
				crows = append(crows, rows...)
			default:
				trows = append(trows, rows...)
			}
			if o.met != nil {
				o.written = append(o.written, written{name, ev.Time, outcome})
			}
		}
	}
	return []features.ViewRows{{View: CustomerView, Rows: crows}, {View: TerminalView, Rows: trows}}
}

// Vectors reads the vectors of txs from the store in one read into out (len(txs)×Width,
// row-major). TTLs are measured from the newest transaction's time.
func (o *Online) Vectors(ctx context.Context, txs []sim.Transaction, out []float64) error {
	if len(txs) == 0 {
		return nil
	}
	res, err := o.store.Read(ctx, vectorRequest(txs))
	if err != nil {
		return fmt.Errorf("online features: read: %w", err)
	}
	fillVectors(res, txs, out)
	return nil
}

// vectorRequest asks for the customer and terminal rows of txs, TTLs measured from the
// newest transaction's time.
func vectorRequest(txs []sim.Transaction) features.ReadRequest {
	cust, term := make([]string, len(txs)), make([]string, len(txs))
	var at time.Time
	for i, tx := range txs {
		cust[i], term[i] = strconv.Itoa(tx.Customer), strconv.Itoa(tx.Terminal)
		if tx.Time.After(at) {
			at = tx.Time
		}
	}
	return features.ReadRequest{At: at, Views: []features.ViewRequest{
		{View: CustomerView, Entities: cust},
		{View: TerminalView, Entities: term},
	}}
}

func fillVectors(res *features.ReadResult, txs []sim.Transaction, out []float64) {
	cv, tv := res.Views[0], res.Views[1]
	cvals, tvals := make([]features.Value, len(cv.Features)), make([]features.Value, len(tv.Features))
	for i, tx := range txs {
		for f := range cvals {
			cvals[f] = cv.Get(i, f).Value // Missing and Stale carry a null: 0
		}
		for f := range tvals {
			tvals[f] = tv.Get(i, f).Value
		}
		Fill(out[i*Width:(i+1)*Width], tx, cvals, tvals)
	}
}
