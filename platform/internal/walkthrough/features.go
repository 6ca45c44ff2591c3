package walkthrough

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/casebook-ml/casebook/platform/seal"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// FeatureDemoView is the view the feature-store scenarios and `mlp features seed` compute:
// per customer, transaction count and amount over the last 10 minutes and the last hour,
// from the walkthrough's transaction events.
func FeatureDemoView() features.FeatureView {
	m := time.Minute
	return features.FeatureView{
		Name: "customer_activity", Entity: features.Entity{Name: "customer", JoinKey: "customer_id"},
		TTL: 15 * m, Source: "demo.feat.tx", Inputs: []string{"amount"},
		Bucket: m, AllowedLateness: 2 * m,
		Transform: func(ev features.Event, in *features.Input) error {
			var t tx
			if err := json.Unmarshal(ev.Data, &t); err != nil {
				return fmt.Errorf("decode transaction: %w", err)
			}
			in.Entity = strconv.Itoa(t.Customer)
			in.Fields[0] = t.Amount
			return nil
		},
		Aggregations: []features.Aggregation{
			{Name: "tx_count_10m", Func: features.Count, Window: features.Window{Length: 10 * m}},
			{Name: "tx_count_1h", Func: features.Count, Window: features.Window{Length: 60 * m}},
			{Name: "amount_sum_1h", Func: features.Sum, Input: "amount", Window: features.Window{Length: 60 * m}},
			{Name: "amount_mean_1h", Func: features.Mean, Input: "amount", Window: features.Window{Length: 60 * m}},
		},
	}
}

// activity makes a steady stream of transactions: customers buys on average every meanGap.
func activity(seed uint64, customers int, start time.Time, span, meanGap time.Duration) []tx {
	rng := rand.New(rand.NewPCG(seed, 17))
	rate := float64(customers) / meanGap.Seconds() // events per second overall
	var out []tx
	for t := start; ; {
		t = t.Add(time.Duration(rng.ExpFloat64() / rate * 1e9))
		if !t.Before(start.Add(span)) {
			return out
		}
		out = append(out, tx{ID: fmt.Sprintf("ftx-%07d", len(out)), Customer: rng.IntN(customers),
			Amount: math.Round((5+rng.ExpFloat64()*40)*100) / 100, Time: t})
	}
}

// featureRig is what the feature scenarios run on: the log, the stores and a running ingestor.
type featureRig struct {
	log     *eventlog.Log
	reg     *features.Registry
	view    *features.FeatureView
	online  *memory.Store
	offline *features.OfflineStore
	metrics *features.Metrics
	ingest  *features.Ingestor
	clock   atomic.Int64 // simulated wall clock, Unix ns
	stop    func() error
	dir     string
}

const featStream = "FEAT_TX"

func newFeatureRig(ctx context.Context, cfg Config, r *scenario.Report) (*featureRig, error) {
	l, err := openLog(ctx, cfg, r)
	if err != nil {
		return nil, err
	}
	if err := freshStream(ctx, l, eventlog.StreamConfig{Name: featStream, Subjects: []string{"demo.feat.>"}}); err != nil {
		l.Close()
		return nil, err
	}
	rig := &featureRig{log: l, reg: features.NewRegistry()}
	if err := rig.reg.RegisterView(FeatureDemoView()); err != nil {
		l.Close()
		return nil, err
	}
	rig.view, _ = rig.reg.View("customer_activity")
	rig.dir, err = os.MkdirTemp("", "casebook-features-")
	if err != nil {
		l.Close()
		return nil, err
	}
	oc := features.DefaultOfflineConfig()
	oc.Dir, oc.Logger = rig.dir, cfg.Logger
	if rig.offline, err = features.OpenOffline(oc, rig.reg); err != nil {
		rig.close()
		return nil, err
	}
	rig.online = memory.New(rig.reg)
	rig.metrics, err = features.NewMetrics(prometheus.NewRegistry(), func() time.Time { return time.Unix(0, rig.clock.Load()).UTC() })
	if err != nil {
		rig.close()
		return nil, err
	}
	ic := features.DefaultIngestConfig()
	ic.Consumer.Stream, ic.Consumer.Durable, ic.Views, ic.Logger = featStream, "features", []string{"customer_activity"}, cfg.Logger
	ic.Consumer.BatchSize, ic.Consumer.MaxAckPending = 512, 4096
	if rig.ingest, err = features.NewIngestor(l, rig.reg, rig.online, rig.offline, rig.metrics, ic); err != nil {
		rig.close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rig.ingest.Run(runCtx) }()
	rig.stop = func() error { cancel(); return <-done }
	r.Say("feature store: view customer_activity (10 min and 1 h windows in 1-minute buckets, TTL 15 min, 2 min allowed lateness)")
	r.Say("online store: memory; offline store: Parquet partitions in %s", rig.dir)
	return rig, nil
}

func (rig *featureRig) close() {
	if rig.stop != nil {
		_ = rig.stop()
	}
	rig.log.Close()
	os.RemoveAll(rig.dir)
}

func (rig *featureRig) setClock(t time.Time) { rig.clock.Store(t.UnixNano()) }

// publish appends transactions to the log and waits until the ingestor has applied them.
func (rig *featureRig) publish(ctx context.Context, txs []tx) error {
	if _, err := rig.log.PublishBatch(ctx, events(txs, "demo.feat.tx")); err != nil {
		return err
	}
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		st, err := rig.log.ConsumerState(ctx, featStream, "features")
		if err == nil && st.Caught() {
			return rig.ingest.Flush(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("the ingestor did not catch up within 45s")
}

// truth is what the feature values are with every event applied: the batch execution over
// the whole log with no lateness limit, indexed for "newest row at or before t".
type truth map[string][]features.Row

func (rig *featureRig) truth(ctx context.Context) (truth, error) {
	var evs []features.Event
	if _, err := rig.log.Replay(ctx, featStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		evs = append(evs, features.Event{ID: m.ID, Time: m.Time, Seq: m.Sequence, Data: m.Data})
		return nil
	}); err != nil {
		return nil, err
	}
	res, err := features.ComputeBatch(rig.view, evs, features.BatchOptions{IgnoreLateness: true})
	if err != nil {
		return nil, err
	}
	tr := truth{}
	for _, r := range res.Rows { // ordered by entity, then time
		tr[r.Entity] = append(tr[r.Entity], r)
	}
	return tr, nil
}

func (tr truth) at(entity string, t time.Time) *features.Row {
	rows := tr[entity]
	i := sort.Search(len(rows), func(i int) bool { return rows[i].Time.After(t) })
	if i == 0 {
		return nil
	}
	return &rows[i-1]
}

// serving reads every customer's features at time at, as a model server would, and
// compares them with the point-in-time-correct values.
type servingView struct {
	present, stale, missing int
	skewed                  int     // entities whose online tx_count_1h differs from the correct one
	countErr                float64 // mean absolute error of tx_count_1h over all entities
}

func (rig *featureRig) serve(ctx context.Context, customers int, at time.Time, tr truth) (servingView, error) {
	var sv servingView
	ents := make([]string, customers)
	for i := range ents {
		ents[i] = strconv.Itoa(i)
	}
	res, err := rig.online.Read(ctx, features.ReadRequest{At: at, Views: []features.ViewRequest{{View: "customer_activity", Features: []string{"tx_count_1h"}, Entities: ents}}})
	if err != nil {
		return sv, err
	}
	vr := res.Views[0]
	var errSum float64
	for i, e := range ents {
		fv := vr.Get(i, 0)
		switch fv.Status {
		case features.Present:
			sv.present++
		case features.Stale:
			sv.stale++
		default:
			sv.missing++
		}
		want := features.Resolve(features.Null(), time.Time{}, at, rig.view.TTL)
		if row := tr.at(e, at); row != nil {
			want = features.Resolve(row.Values[1], row.Time, at, rig.view.TTL)
		}
		got := fv.Value.Int()
		if fv.Status != want.Status || got != want.Value.Int() {
			sv.skewed++
		}
		errSum += math.Abs(float64(got - want.Value.Int()))
	}
	sv.countErr = errSum / float64(customers)
	return sv, nil
}

func (sv servingView) report(r *scenario.Report, prefix string, customers int) {
	r.Measure(prefix+" PRESENT", float64(sv.present), "customers")
	r.Measure(prefix+" STALE", float64(sv.stale), "customers")
	r.Measure(prefix+" MISSING", float64(sv.missing), "customers")
	r.Measure(prefix+" skewed vs point-in-time-correct", 100*float64(sv.skewed)/float64(customers), "%")
	r.Measure(prefix+" mean |error| of tx_count_1h", sv.countErr, "tx")
}

func delayedPipeline(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "features/delayed-pipeline",
		Summary: "The feature pipeline falls 10 minutes of event time behind: serving sees stale values and skew, freshness says so; late events are dropped and counted, and a backfill from the log repairs offline and online.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			rig, err := newFeatureRig(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer rig.close()
			const customers = 300
			start := day0
			txs := activity(42, customers, start, 4*time.Hour, 3*time.Minute)
			until := func(t time.Time) int { return sort.Search(len(txs), func(i int) bool { return txs[i].Time.After(t) }) }
			t1, t2, t3 := start.Add(2*time.Hour), start.Add(3*time.Hour), start.Add(4*time.Hour)

			r.Step("A healthy pipeline: 2 hours of transactions (%d customers, one purchase each every ~3 min) are ingested as they happen", customers)
			if err := rig.publish(ctx, txs[:until(t1)]); err != nil {
				return err
			}
			rig.setClock(t1)
			tr, err := rig.truth(ctx)
			if err != nil {
				return err
			}
			healthy, err := rig.serve(ctx, customers, t1, tr)
			if err != nil {
				return err
			}
			healthy.report(r, "healthy:", customers)
			fresh := rig.metrics.Freshness("customer_activity")
			r.Measure("healthy: casebook_feature_freshness_seconds", fresh.Lag.Seconds(), "s")

			r.Step("The pipeline falls 10 minutes of event time behind: at %s serving reads what was computed up to %s", t2.Format("15:04"), t2.Add(-10*time.Minute).Format("15:04"))
			lagged := until(t2.Add(-10 * time.Minute))
			if err := rig.publish(ctx, txs[until(t1):lagged]); err != nil {
				return err
			}
			rig.setClock(t2)
			// The truth knows every event up to t2, including the 10 minutes not yet processed.
			trAll := truthFromTxs(rig.view, txs[:until(t2)])
			delayed, err := rig.serve(ctx, customers, t2, trAll)
			if err != nil {
				return err
			}
			delayed.report(r, "delayed:", customers)
			fresh = rig.metrics.Freshness("customer_activity")
			r.Measure("delayed: casebook_feature_freshness_seconds", fresh.Lag.Seconds(), "s")
			r.Say("Online values are what they were 10 minutes ago: customers who bought since are undercounted, and")
			r.Say("customers whose newest computed purchase is now more than the 15-minute TTL old read STALE, not a silent old value.")
			r.Check("freshness shows the delay: the lag is at least 600 s and under 11 minutes", fresh.Lag >= 10*time.Minute && fresh.Lag < 11*time.Minute)
			r.Check("a delayed pipeline makes more values STALE than a healthy one", delayed.stale > healthy.stale)
			r.Check("serving sees skew against point-in-time-correct values only while delayed", delayed.skewed > 0 && healthy.skewed == 0)

			r.Step("The pipeline catches up")
			if err := rig.publish(ctx, txs[lagged:until(t2)]); err != nil {
				return err
			}
			caught, err := rig.serve(ctx, customers, t2, trAll)
			if err != nil {
				return err
			}
			caught.report(r, "caught up:", customers)
			r.Check("once caught up, online values equal the point-in-time-correct values", caught.skewed == 0)

			r.Step("One producer (every third customer) now delivers 10 minutes late, beyond the 2-minute allowed lateness")
			var onTime, late []tx
			for _, t := range txs[until(t2):] {
				if t.Customer%3 == 0 {
					late = append(late, t)
				} else {
					onTime = append(onTime, t)
				}
			}
			arrival := interleaveLate(onTime, late, 10*time.Minute)
			// What the stated policy predicts: an event is dropped when it is more than the
			// allowed lateness older than the newest event the view has seen.
			expectDrop, newest := int64(0), txs[until(t2)-1].Time
			for _, t := range arrival {
				if t.Time.Before(newest.Add(-rig.view.AllowedLateness)) {
					expectDrop++
				}
				if t.Time.After(newest) {
					newest = t.Time
				}
			}
			droppedBefore := rig.metrics.Events("customer_activity", "dropped")
			if err := rig.publish(ctx, arrival); err != nil {
				return err
			}
			rig.setClock(t3)
			dropped := rig.metrics.Events("customer_activity", "dropped") - droppedBefore
			r.Measure("events dropped as too late (casebook_feature_events_total{outcome=\"dropped\"})", float64(dropped), "")
			r.Measure("events the late producer sent", float64(len(late)), "")
			r.Measure("of which within the allowed lateness when they arrived (the last minutes, with nothing newer after them)", float64(int64(len(late))-expectDrop), "")
			fresh = rig.metrics.Freshness("customer_activity")
			r.Measure("freshness lag meanwhile", fresh.Lag.Seconds(), "s")
			r.Say("Freshness looks healthy (the other producer keeps the newest event time current): only the dropped counter shows the hole.")
			trFinal, err := rig.truth(ctx)
			if err != nil {
				return err
			}
			broken, err := rig.serve(ctx, customers, t3, trFinal)
			if err != nil {
				return err
			}
			broken.report(r, "late producer:", customers)
			r.Check("exactly the events older than the watermark were dropped, and each was counted", dropped == expectDrop && dropped > 0)

			labels := features.Labels{Keys: map[string][]string{"customer_id": nil}}
			for _, t := range txs[until(t2):] {
				labels.Time = append(labels.Time, t.Time)
				labels.Keys["customer_id"] = append(labels.Keys["customer_id"], strconv.Itoa(t.Customer))
			}
			wrongBefore, err := rig.trainingSkew(ctx, labels, trFinal)
			if err != nil {
				return err
			}
			r.Step("Training rows for the last hour, built from the offline store the stream appended to")
			r.Measure("label rows", float64(labels.Len()), "")
			r.Measure("label rows whose tx_count_1h differs from the truth", 100*float64(wrongBefore)/float64(labels.Len()), "%")

			r.Step("Backfill: recompute the day from the log with every event, rewrite the partitions, re-materialize")
			bst, err := features.Backfill(ctx, rig.log, featStream, nil, rig.view, rig.offline, start, t3, features.BatchOptions{IgnoreLateness: true})
			if err != nil {
				return err
			}
			p := rig.offline.Manifest().Views["customer_activity"].Partitions[start.Format("2006-01-02")]
			r.Measure("events replayed", float64(bst.Events), "")
			r.Measure("rows rewritten", float64(bst.Rows), "")
			r.Measure("partition version now", float64(p.Version), "")
			wrongAfter, err := rig.trainingSkew(ctx, labels, trFinal)
			if err != nil {
				return err
			}
			r.Measure("label rows wrong after backfill", float64(wrongAfter), "")
			mat, err := features.NewMaterializer(rig.offline, rig.online, rig.metrics, features.DefaultMaterializeConfig())
			if err != nil {
				return err
			}
			mst, err := mat.Range(ctx, "customer_activity", t2, t3.Add(time.Nanosecond))
			if err != nil {
				return err
			}
			r.Measure("online rows replaced by re-materialization", float64(mst.Applied), "")
			repaired, err := rig.serve(ctx, customers, t3, trFinal)
			if err != nil {
				return err
			}
			repaired.report(r, "after repair:", customers)
			r.Check("the stream-built training rows were wrong before the backfill", wrongBefore > 0)
			r.Check("after the backfill every training row equals the truth", wrongAfter == 0)
			r.Check("the backfill wrote a new partition version and kept the old ones", p.Version >= 2 && len(p.Replaced) >= 1)
			r.Check("after re-materializing, online values equal the point-in-time-correct values", repaired.skewed == 0)
			return nil
		},
	}
}

// interleaveLate puts each late event in the log delay after it happened.
func interleaveLate(onTime, late []tx, delay time.Duration) []tx {
	out := make([]tx, 0, len(onTime)+len(late))
	j := 0
	for _, t := range onTime {
		for j < len(late) && late[j].Time.Add(delay).Before(t.Time) {
			out = append(out, late[j])
			j++
		}
		out = append(out, t)
	}
	return append(out, late[j:]...)
}

func truthFromTxs(v *features.FeatureView, txs []tx) truth {
	evs := make([]features.Event, len(txs))
	for i, t := range txs {
		ev := t.event("demo.feat.tx")
		evs[i] = features.Event{ID: ev.ID, Time: ev.Time, Seq: uint64(i + 1), Data: ev.Data}
	}
	res, _ := features.ComputeBatch(v, evs, features.BatchOptions{IgnoreLateness: true})
	tr := truth{}
	for _, r := range res.Rows {
		tr[r.Entity] = append(tr[r.Entity], r)
	}
	return tr
}

// trainingSkew builds a training set and counts rows whose tx_count_1h differs from truth.
func (rig *featureRig) trainingSkew(ctx context.Context, labels features.Labels, tr truth) (int, error) {
	ts, err := rig.offline.TrainingSet(ctx, labels, []string{"customer_activity:tx_count_1h"})
	if err != nil {
		return 0, err
	}
	col := ts.Columns[0]
	wrong := 0
	for i, t := range labels.Time {
		row := tr.at(labels.Keys["customer_id"][i], t)
		want := int64(-1)
		if row != nil {
			want = row.Values[1].Int()
		}
		got := int64(-1)
		if col.Status[i] == features.Present {
			got = int64(col.Floats[i])
		}
		if got != want {
			wrong++
		}
	}
	return wrong, nil
}

// SeedFeatureStore computes the customer_activity view with the batch execution over
// hours of synthetic transactions starting at day0, and appends the rows to the offline
// store in dir, so `mlp features` has something to show without a running pipeline. A
// keyring with a key seals the Parquet files.
func SeedFeatureStore(ctx context.Context, dir string, hours int, kr *seal.Keyring) (features.BatchResult, error) {
	reg := features.NewRegistry()
	if err := reg.RegisterView(FeatureDemoView()); err != nil {
		return features.BatchResult{}, err
	}
	v, _ := reg.View("customer_activity")
	oc := features.DefaultOfflineConfig()
	oc.Dir, oc.Keyring = dir, kr
	off, err := features.OpenOffline(oc, reg)
	if err != nil {
		return features.BatchResult{}, err
	}
	txs := activity(42, 300, day0, time.Duration(hours)*time.Hour, 3*time.Minute)
	evs := make([]features.Event, len(txs))
	for i, t := range txs {
		ev := t.event("demo.feat.tx")
		evs[i] = features.Event{ID: ev.ID, Time: ev.Time, Seq: uint64(i + 1), Data: ev.Data}
	}
	res, err := features.ComputeBatch(v, evs, features.BatchOptions{})
	if err != nil {
		return res, err
	}
	return res, off.Append(ctx, v.Name, res.Rows)
}

func pointInTime(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "features/point-in-time",
		Summary: "A training set joined to the latest feature values leaks the future; the point-in-time join uses only values from at or before each label, within the TTL, and says why the rest are null.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			reg := features.NewRegistry()
			if err := reg.RegisterView(FeatureDemoView()); err != nil {
				return err
			}
			v, _ := reg.View("customer_activity")
			dir, err := os.MkdirTemp("", "casebook-pit-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			oc := features.DefaultOfflineConfig()
			oc.Dir, oc.Logger = dir, cfg.Logger
			off, err := features.OpenOffline(oc, reg)
			if err != nil {
				return err
			}
			// Quiet customers (every tenth buys every ~40 min) make the TTL matter.
			txs := activity(7, 300, day0, 6*time.Hour, 3*time.Minute)
			quiet := activity(8, 30, day0, 6*time.Hour, 40*time.Minute)
			for i := range quiet {
				quiet[i].ID, quiet[i].Customer = "q"+quiet[i].ID, 1000+quiet[i].Customer
			}
			txs = append(txs, quiet...)
			sort.SliceStable(txs, func(i, j int) bool { return txs[i].Time.Before(txs[j].Time) })
			evs := make([]features.Event, len(txs))
			for i, t := range txs {
				ev := t.event("demo.feat.tx")
				evs[i] = features.Event{ID: ev.ID, Time: ev.Time, Seq: uint64(i + 1), Data: ev.Data}
			}
			res, err := features.ComputeBatch(v, evs, features.BatchOptions{})
			if err != nil {
				return err
			}
			r.Step("Compute customer_activity over 6 hours of transactions (%d events) and write it to the offline store", len(evs))
			if err := off.Append(ctx, v.Name, res.Rows); err != nil {
				return err
			}
			r.Measure("offline rows", float64(len(res.Rows)), "")

			r.Step("Labels: 3,000 moments at which a model would have scored a customer")
			rng := rand.New(rand.NewPCG(9, 9))
			labels := features.Labels{Keys: map[string][]string{"customer_id": nil}}
			for range 3000 {
				c := rng.IntN(330)
				if c >= 300 {
					c = 1000 + c - 300
				}
				labels.Time = append(labels.Time, day0.Add(time.Hour+time.Duration(rng.Int64N(int64(5*time.Hour)))))
				labels.Keys["customer_id"] = append(labels.Keys["customer_id"], strconv.Itoa(c))
			}

			r.Step("The naive join: each customer's latest values, as a snapshot table or the online store would give them")
			latest := map[string]features.Row{}
			for _, row := range res.Rows {
				if old, ok := latest[row.Entity]; !ok || row.Newer(&old) {
					latest[row.Entity] = row
				}
			}
			leaks, diff := 0, 0.0
			ts, err := off.TrainingSet(ctx, labels, []string{"customer_activity:tx_count_1h"})
			if err != nil {
				return err
			}
			col := ts.Columns[0]
			for i, t := range labels.Time {
				row, ok := latest[labels.Keys["customer_id"][i]]
				if !ok {
					continue
				}
				if row.Time.After(t) {
					leaks++
				}
				if col.Status[i] == features.Present {
					diff += math.Abs(float64(row.Values[1].Int()) - col.Floats[i])
				}
			}
			r.Measure("label rows given values from after the label time", 100*float64(leaks)/float64(labels.Len()), "%")
			r.Measure("mean |naive − point-in-time| of tx_count_1h", diff/float64(labels.Len()), "tx")
			r.Say("A model trained on this sees the future: counts that include purchases made after the moment it scores.")

			r.Step("The point-in-time join: newest value at or before each label time, not older than the 15-minute TTL")
			future, byStatus, reasons := 0, map[features.Status]int{}, map[string]int{}
			for i, t := range labels.Time {
				byStatus[col.Status[i]]++
				if col.AsOf[i] > t.UnixNano() {
					future++
				}
				if rs := col.Reason(i); rs != "" {
					reasons[rs]++
				}
			}
			r.Measure("label rows given values from after the label time", float64(future), "")
			r.Measure("PRESENT", float64(byStatus[features.Present]), "label rows")
			r.Measure("STALE (newest value older than the TTL)", float64(byStatus[features.Stale]), "label rows")
			r.Measure("MISSING (no value before the label)", float64(byStatus[features.Missing]), "label rows")
			keys := make([]string, 0, len(reasons))
			for rs := range reasons {
				keys = append(keys, rs)
			}
			sort.Strings(keys)
			for _, rs := range keys {
				r.Say("null because %s: %d rows", rs, reasons[rs])
			}
			r.Check("the naive join leaks future values into training rows", leaks > 0)
			r.Check("the point-in-time join never uses a value from after the label time", future == 0)
			r.Check("values older than the TTL are nulled with a reason, not used", byStatus[features.Stale] > 0 && reasons["newest value at or before the label time is older than the TTL"] == byStatus[features.Stale])
			return nil
		},
	}
}
