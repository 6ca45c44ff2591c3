package features_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
)

// fineView has one-second buckets: windows of 10 s, 60 s and 30 s delayed by 30 s, so no
// evaluation at or after the watermark reads a bucket more than 60 back.
func fineView(lateness time.Duration) features.FeatureView {
	s := time.Second
	return features.FeatureView{
		Name: "fine", Entity: featurestest.Customer, Inputs: []string{"amount"}, Bucket: s,
		AllowedLateness: lateness, Transform: featurestest.ByCustomer,
		Aggregations: []features.Aggregation{
			{Name: "count_10s", Func: features.Count, Window: features.Window{Length: 10 * s}},
			{Name: "sum_60s", Func: features.Sum, Input: "amount", Window: features.Window{Length: 60 * s}},
			{Name: "max_30s_delay30s", Func: features.Max, Input: "amount", Window: features.Window{Length: 30 * s, Delay: 30 * s}},
		},
	}
}

const fineReach = 60 // buckets back from the watermark's that a window of fineView reaches

// fineArrivals makes n events over many entities in log order, times in milliseconds so
// that ties and bucket edges occur: a few hot entities take a third of the events, the
// rest spread over 1,500 entities that each expire between most of their events. Some
// events arrive late (within and beyond the lateness), some twice.
func fineArrivals(seed uint64, n int, lateness time.Duration) []features.Event {
	rng := rand.New(rand.NewPCG(seed, 7))
	type arr struct {
		tx      featurestest.Tx
		arrives time.Time
	}
	var as []arr
	tt := t0
	for i := 0; i < n; i++ {
		if rng.IntN(10) == 0 {
			tt = tt.Truncate(time.Second).Add(time.Second) // on a bucket edge
		} else {
			tt = tt.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
		}
		c := fmt.Sprint("c", rng.IntN(1500))
		if rng.IntN(3) == 0 {
			c = fmt.Sprint("hot", rng.IntN(5))
		}
		tx := featurestest.Tx{ID: fmt.Sprintf("e%06d", i), Customer: c, Amount: float64(1 + rng.IntN(1000)), Time: tt}
		var delay time.Duration
		if lateness > 0 && rng.IntN(20) == 0 {
			delay = time.Duration(rng.Int64N(int64(2 * lateness))) // half of them dropped
		}
		as = append(as, arr{tx, tt.Add(delay)})
		if rng.IntN(30) == 0 {
			as = append(as, arr{tx, tt.Add(delay + time.Duration(rng.IntN(20))*time.Second)})
		}
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].arrives.Before(as[j].arrives) })
	evs := make([]features.Event, len(as))
	for i, a := range as {
		evs[i] = a.tx.Event(uint64(i + 1))
	}
	return evs
}

// fineState is the state the aggregator must hold after the applied events, by the rule
// of Aggregator's doc: buckets a window can still reach, raw events of buckets the
// watermark has not passed, ids at or after the watermark of the last sweep.
type fineState struct{ entities, buckets, raw, ids int }

type appliedEvent struct {
	entity string
	t      int64
}

func wantFineState(applied map[string]appliedEvent, wm, sweptWM int64) fineState {
	sec := int64(time.Second)
	wb := floorDiv(wm, sec)
	oldest := wb - fineReach + 1
	ents, buckets := map[string]bool{}, map[appliedEvent]bool{}
	var s fineState
	for _, e := range applied {
		b := floorDiv(e.t, sec)
		if b >= oldest {
			ents[e.entity] = true
			buckets[appliedEvent{e.entity, b}] = true
		}
		if b >= wb {
			s.raw++
		}
		if e.t >= sweptWM {
			s.ids++
		}
	}
	s.entities, s.buckets = len(ents), len(buckets)
	return s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// TestFineBucketsDropExpiredState streams events over 1,500 entities through one-second
// buckets and checks, every few events, that the aggregator holds exactly the state the
// windows still need (no expired bucket, entity, raw event or id is kept, none needed is
// lost); then that a jump of the watermark far ahead leaves only the newest entity; and
// throughout, that the rows equal the batch execution's.
func TestFineBucketsDropExpiredState(t *testing.T) {
	for _, lateness := range []time.Duration{0, 5 * time.Second} {
		t.Run(fmt.Sprint("lateness=", lateness), func(t *testing.T) {
			v := register(t, fineView(lateness))
			evs := fineArrivals(3, 20000, lateness)
			last := evs[len(evs)-1].Time
			far := featurestest.Tx{ID: "far", Customer: "c0", Amount: 1, Time: last.Add(time.Hour)}
			evs = append(evs, far.Event(uint64(len(evs)+1)))

			agg, err := features.NewAggregator(v)
			if err != nil {
				t.Fatal(err)
			}
			applied := map[string]appliedEvent{}
			var sweptWM int64
			maxBuckets := 0
			stream := map[rowKey]features.Row{}
			for i, ev := range evs {
				rows, o, err := agg.Apply(ev)
				if err != nil {
					t.Fatalf("Apply(%s) = %v", ev.ID, err)
				}
				for _, r := range rows {
					stream[rowKey{r.Entity, r.Time.UnixNano()}] = r
				}
				if o == features.Applied || o == features.Late {
					c, _, _, _, _ := featurestest.DecodeTx(ev.Data)
					applied[ev.ID] = appliedEvent{c, ev.Time.UnixNano()}
				}
				wm := agg.Watermark().UnixNano()
				if floorDiv(wm, int64(time.Second)) > floorDiv(sweptWM, int64(time.Second)) {
					sweptWM = wm
				}
				if i%97 != 0 && i != len(evs)-1 {
					continue
				}
				var got fineState
				got.entities, got.buckets, got.raw, got.ids = agg.StateSize()
				if want := wantFineState(applied, wm, sweptWM); got != want {
					t.Fatalf("after event %d (%s): StateSize() = %+v, want %+v", i, ev.ID, got, want)
				}
				maxBuckets = max(maxBuckets, got.buckets)
			}
			ents, buckets, raw, ids := agg.StateSize()
			if ents != 1 || buckets != 1 || raw != 1 || ids != 1 {
				t.Errorf("after the watermark moved an hour on: StateSize() = %d, %d, %d, %d, want 1, 1, 1, 1", ents, buckets, raw, ids)
			}
			if limit := 1505 * fineReach; maxBuckets > limit {
				t.Errorf("buckets peaked at %d, want at most %d (entities × buckets in the longest reach)", maxBuckets, limit)
			}

			batch, err := features.ComputeBatch(v, evs, features.BatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := agg.Stats(), batch.Stats; got != want {
				t.Errorf("Stats() = %+v, batch %+v", got, want)
			}
			if lateness > 0 && (batch.Stats.Late == 0 || batch.Stats.Dropped == 0) {
				t.Errorf("no late or dropped events: %+v", batch.Stats)
			}
			if len(batch.Rows) != len(stream) {
				t.Errorf("batch has %d rows, stream emitted %d distinct (entity, time)", len(batch.Rows), len(stream))
			}
			for _, b := range batch.Rows {
				s, ok := stream[rowKey{b.Entity, b.Time.UnixNano()}]
				if !ok {
					t.Errorf("stream never emitted %s at %v", b.Entity, b.Time)
					continue
				}
				for i := range b.Values {
					if !s.Values[i].Equal(b.Values[i]) {
						t.Errorf("%s at %v %s: stream %v, batch %v", b.Entity, b.Time.Format("15:04:05.000"), v.Features[i].Name, s.Values[i], b.Values[i])
					}
				}
			}
			t.Logf("events %d, rows %d, peak buckets %d, stats %+v", len(evs), len(batch.Rows), maxBuckets, batch.Stats)
		})
	}
}
