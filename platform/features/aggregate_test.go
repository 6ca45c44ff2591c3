package features_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func register(t testing.TB, v features.FeatureView) *features.FeatureView {
	t.Helper()
	r := features.NewRegistry()
	if err := r.RegisterView(v); err != nil {
		t.Fatalf("RegisterView(%s) = %v", v.Name, err)
	}
	cv, err := r.View(v.Name)
	if err != nil {
		t.Fatal(err)
	}
	return cv
}

// parityView exercises every aggregation, with and without delay, with a ratio over a
// declared denominator, in 10-minute buckets and 15 minutes of allowed lateness.
func parityView() features.FeatureView {
	m := time.Minute
	return features.FeatureView{
		Name: "parity", Entity: featurestest.Customer, TTL: time.Hour,
		Inputs: []string{"amount", "fraud"}, Bucket: 10 * m, AllowedLateness: 15 * m,
		Transform: func(ev features.Event, in *features.Input) error {
			c, _, amount, fraud, err := featurestest.DecodeTx(ev.Data)
			if err != nil {
				return err
			}
			in.Entity, in.Fields[0] = c, amount
			if fraud {
				in.Fields[1] = 1
			}
			return nil
		},
		Aggregations: []features.Aggregation{
			{Name: "count_10m", Func: features.Count, Window: features.Window{Length: 10 * m}},
			{Name: "sum_30m", Func: features.Sum, Input: "amount", Window: features.Window{Length: 30 * m}},
			{Name: "mean_30m", Func: features.Mean, Input: "amount", Window: features.Window{Length: 30 * m}},
			{Name: "min_20m_delay20m", Func: features.Min, Input: "amount", Window: features.Window{Length: 20 * m, Delay: 20 * m}},
			{Name: "max_20m_delay20m", Func: features.Max, Input: "amount", Window: features.Window{Length: 20 * m, Delay: 20 * m}},
			{Name: "fraud_rate_60m_delay10m", Func: features.Ratio, Input: "fraud", Window: features.Window{Length: 60 * m, Delay: 10 * m}},
			{Name: "fraud_per_amount_30m", Func: features.Ratio, Input: "fraud", Denominator: "amount", Window: features.Window{Length: 30 * m}},
		},
	}
}

// arrivals makes events in log order: mostly in time order, with ties, events on bucket
// edges, late events inside and beyond the allowed lateness, and redelivered duplicates.
func arrivals(seed uint64, n int) []features.Event {
	rng := rand.New(rand.NewPCG(seed, 99))
	type arr struct {
		tx      featurestest.Tx
		arrives time.Time
	}
	var as []arr
	tt := t0
	for i := 0; i < n; i++ {
		switch r := rng.IntN(10); {
		case r == 0: // a tie with the previous event
		case r == 1: // exactly on a bucket edge
			tt = tt.Truncate(10 * time.Minute).Add(10 * time.Minute)
		default:
			tt = tt.Add(time.Duration(rng.IntN(90)) * time.Second)
		}
		tx := featurestest.Tx{
			ID: fmt.Sprintf("e%05d", i), Customer: fmt.Sprintf("c%d", rng.IntN(4)),
			Amount: float64(rng.IntN(10000))/100 + 0.01, Fraud: rng.IntN(5) == 0, Time: tt,
		}
		delay := time.Duration(0)
		switch r := rng.IntN(20); {
		case r == 0: // late but within 15 minutes
			delay = time.Duration(1+rng.IntN(14*60)) * time.Second
		case r == 1: // beyond the allowed lateness
			delay = time.Duration(16+rng.IntN(45)) * time.Minute
		}
		as = append(as, arr{tx, tt.Add(delay)})
		if rng.IntN(30) == 0 { // a redelivery, soon or much later
			as = append(as, arr{tx, tt.Add(delay + time.Duration(rng.IntN(40))*time.Minute)})
		}
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].arrives.Before(as[j].arrives) })
	evs := make([]features.Event, len(as))
	for i, a := range as {
		evs[i] = a.tx.Event(uint64(i + 1))
	}
	return evs
}

type rowKey struct {
	entity string
	t      int64
}

func TestStreamingMatchesBatch(t *testing.T) {
	v := register(t, parityView())
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			evs := arrivals(seed, 3000)
			agg, err := features.NewAggregator(v)
			if err != nil {
				t.Fatal(err)
			}
			last := map[rowKey]features.Row{}
			first := map[rowKey]features.Row{}
			for _, ev := range evs {
				rows, _, err := agg.Apply(ev)
				if err != nil {
					t.Fatalf("Apply(%s) = %v", ev.ID, err)
				}
				for _, r := range rows {
					k := rowKey{r.Entity, r.Time.UnixNano()}
					if _, ok := first[k]; !ok {
						first[k] = r
					}
					last[k] = r
				}
			}
			batch, err := features.ComputeBatch(v, evs, features.BatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := agg.Stats(), batch.Stats; got != want {
				t.Errorf("stream stats %+v, batch stats %+v", got, want)
			}
			st := agg.Stats()
			if st.Late == 0 || st.Dropped == 0 || st.Duplicate == 0 {
				t.Fatalf("the sequence does not exercise late, dropped and duplicate events: %+v", st)
			}
			if len(batch.Rows) != len(last) {
				t.Errorf("batch has %d rows, stream emitted %d distinct (entity, time)", len(batch.Rows), len(last))
			}
			revised := 0
			for _, b := range batch.Rows {
				k := rowKey{b.Entity, b.Time.UnixNano()}
				s, ok := last[k]
				if !ok {
					t.Errorf("stream never emitted %s at %v", b.Entity, b.Time)
					continue
				}
				if s.Seq != b.Seq {
					t.Errorf("%s at %v: stream seq %d, batch seq %d", b.Entity, b.Time, s.Seq, b.Seq)
				}
				for i := range b.Values {
					if !s.Values[i].Equal(b.Values[i]) {
						t.Errorf("%s at %v feature %s: stream %v, batch %v", b.Entity, b.Time.Format("15:04:05.000"), v.Features[i].Name, s.Values[i], b.Values[i])
					}
				}
				if f := first[k]; !rowEqual(f, s) {
					revised++
				}
			}
			if revised == 0 {
				t.Errorf("no row was revised by a late event; the test does not exercise re-emission")
			}
			t.Logf("events %d, rows %d, revised by late events %d, stats %+v", len(evs), len(batch.Rows), revised, st)
		})
	}
}

func rowEqual(a, b features.Row) bool {
	for i := range a.Values {
		if !a.Values[i].Equal(b.Values[i]) {
			return false
		}
	}
	return true
}

// TestWindowEdges pins the window rule on hand-computed cases: bucket edges belong to the
// bucket they start, ties are all included, and a delayed window is whole buckets.
func TestWindowEdges(t *testing.T) {
	h := time.Hour
	v := register(t, features.FeatureView{
		Name: "edges", Entity: featurestest.Customer, Inputs: []string{"amount"}, Bucket: h,
		Transform: featurestest.ByCustomer,
		Aggregations: []features.Aggregation{
			{Name: "count_2h", Func: features.Count, Window: features.Window{Length: 2 * h}},
			{Name: "count_1h_delay1h", Func: features.Count, Window: features.Window{Length: h, Delay: h}},
			{Name: "max_2h", Func: features.Max, Input: "amount", Window: features.Window{Length: 2 * h}},
		},
	})
	at := func(hh, mm int, ns int) time.Time {
		return t0.Add(time.Duration(hh)*h + time.Duration(mm)*time.Minute + time.Duration(ns))
	}
	txs := []featurestest.Tx{
		{ID: "a", Time: at(9, 0, 0), Amount: 1},
		{ID: "b", Time: at(9, 59, 59_999_999_999), Amount: 2},
		{ID: "c", Time: at(10, 0, 0), Amount: 3},
		{ID: "d", Time: at(10, 30, 0), Amount: 4},
		{ID: "e", Time: at(10, 30, 0), Amount: 5}, // tie with d
		{ID: "f", Time: at(11, 0, 0), Amount: 6},
	}
	want := []struct {
		at                  time.Time
		count2h, count1hD1h int64
		max2h               float64
	}{
		{at(9, 0, 0), 1, 0, 1},
		{at(9, 59, 59_999_999_999), 2, 0, 2},
		{at(10, 0, 0), 3, 2, 3},
		{at(10, 30, 0), 5, 2, 5},
		{at(11, 0, 0), 4, 3, 6}, // 09:xx left the 2h window: it is buckets 10 and 11
	}
	var evs []features.Event
	for i, tx := range txs {
		tx.Customer = "k"
		evs = append(evs, tx.Event(uint64(i+1)))
	}
	batch, err := features.ComputeBatch(v, evs, features.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	agg, _ := features.NewAggregator(v)
	stream := map[int64]features.Row{}
	for _, ev := range evs {
		rows, _, err := agg.Apply(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			stream[r.Time.UnixNano()] = r
		}
	}
	if len(batch.Rows) != len(want) {
		t.Fatalf("ComputeBatch gave %d rows, want %d (one per distinct time)", len(batch.Rows), len(want))
	}
	for i, w := range want {
		for name, r := range map[string]features.Row{"batch": batch.Rows[i], "stream": stream[w.at.UnixNano()]} {
			got := [3]string{r.Values[0].String(), r.Values[1].String(), r.Values[2].String()}
			exp := [3]string{fmt.Sprint(w.count2h), fmt.Sprint(w.count1hD1h), fmt.Sprint(w.max2h)}
			if got != exp {
				t.Errorf("%s as of %s = %v, want %v", name, w.at.Format("15:04:05.000000000"), got, exp)
			}
		}
	}
}

// TestStateBoundedByLongestWindow runs a year of events through 500 entities and checks
// that the state stops growing once the longest window is full.
func TestStateBoundedByLongestWindow(t *testing.T) {
	v := register(t, featurestest.CustomerSpending()) // 30 days of hourly buckets
	agg, _ := features.NewAggregator(v)
	const keys, perDay, days = 500, 1000, 360
	rng := rand.New(rand.NewPCG(5, 5))
	var samples []int
	var heaps []uint64
	for d := 0; d < days; d++ {
		for i := 0; i < perDay; i++ {
			tx := featurestest.Tx{
				ID: fmt.Sprintf("%d-%d", d, i), Customer: fmt.Sprint("c", rng.IntN(keys)), Amount: 10,
				Time: t0.Add(time.Duration(d)*24*time.Hour + time.Duration(i)*(24*time.Hour/perDay)),
			}
			if _, _, err := agg.Apply(tx.Event(uint64(d*perDay + i))); err != nil {
				t.Fatal(err)
			}
		}
		if d == 60 || d == 180 || d == days-1 {
			_, buckets, raw, ids := agg.StateSize()
			samples = append(samples, buckets+raw+ids)
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heaps = append(heaps, ms.HeapAlloc)
		}
	}
	_, buckets, _, _ := agg.StateSize()
	if limit := keys * (30*24 + 2); buckets > limit {
		t.Errorf("buckets = %d, want at most %d (entities × buckets in 30 days)", buckets, limit)
	}
	if samples[2] > samples[0]*11/10 {
		t.Errorf("state grew with time: %v state items at days 60, 180, 359", samples)
	}
	if heaps[2] > heaps[0]*3/2+1<<20 {
		t.Errorf("heap grew with time: %v bytes at days 60, 180, 359", heaps)
	}
	t.Logf("state items at days 60/180/359: %v; heap %v", samples, heaps)
}

func TestBadDefinitionsAndInputs(t *testing.T) {
	base := featurestest.CustomerSpending()
	short := base
	short.Aggregations = []features.Aggregation{{Name: "c", Func: features.Count, Window: features.Window{Length: 30 * time.Minute}}}
	odd := base
	odd.Aggregations = []features.Aggregation{{Name: "c", Func: features.Count, Window: features.Window{Length: 90 * time.Minute}}}
	noInput := base
	noInput.Aggregations = []features.Aggregation{{Name: "m", Func: features.Mean, Input: "nope", Window: features.Window{Length: time.Hour}}}
	vec := featurestest.Profile()
	vec.Features = append(vec.Features[:4:4], features.Feature{Name: "emb", Kind: features.KindVector})
	for _, tc := range []struct {
		name string
		v    features.FeatureView
		want string
	}{
		{"window shorter than bucket", short, `window 30m0s is shorter than the bucket 1h0m0s`},
		{"window not whole buckets", odd, `not a whole number of 1h0m0s buckets`},
		{"unknown input", noInput, `input "nope" is not among`},
		{"vector without dim", vec, `feature "emb": a vector needs Dim > 0`},
		{"bad name", features.FeatureView{Name: "Bad Name", Entity: featurestest.Customer, Features: vec.Features[:1]}, `view name "Bad Name"`},
	} {
		err := features.NewRegistry().RegisterView(tc.v)
		if !errors.Is(err, features.ErrInvalidDefinition) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: RegisterView = %v, want ErrInvalidDefinition containing %q", tc.name, err, tc.want)
		}
	}

	v := register(t, featurestest.CustomerSpending())
	agg, _ := features.NewAggregator(v)
	for _, tc := range []struct {
		name string
		data string
		want error
	}{
		{"NaN amount", "c1|t1|NaN|0", features.ErrInvalidValue},
		{"infinite amount", "c1|t1|+Inf|0", features.ErrInvalidValue},
		{"empty entity", "|t1|3|0", features.ErrEmptyEntityKey},
	} {
		_, _, err := agg.Apply(features.Event{ID: tc.name, Time: t0, Data: []byte(tc.data)})
		if !errors.Is(err, tc.want) {
			t.Errorf("Apply(%s) = %v, want %v", tc.name, err, tc.want)
		}
	}
	if ents, _, _, _ := agg.StateSize(); ents != 0 {
		t.Errorf("rejected events left state for %d entities", ents)
	}
	if st := agg.Stats(); st.Invalid != 3 {
		t.Errorf("Stats().Invalid = %d, want 3", st.Invalid)
	}
}

func TestSchemaHash(t *testing.T) {
	r, err := featurestest.Registry()
	if err != nil {
		t.Fatal(err)
	}
	h1, err := r.SchemaHash("fraud_model")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckSchema("fraud_model", h1); err != nil {
		t.Errorf("CheckSchema(own hash) = %v", err)
	}
	// A different window under the same feature name is a different schema.
	other := featurestest.CustomerSpending()
	other.Aggregations[0].Window.Length = 2 * 24 * time.Hour
	r2 := features.NewRegistry()
	_ = r2.RegisterView(other)
	_ = r2.RegisterView(featurestest.TerminalRisk())
	if err := r2.RegisterService(features.FeatureService{Name: "fraud_model", Version: 1, Features: []string{
		"customer_spending:tx_count_1d", "customer_spending:amount_mean_7d", "terminal_risk:fraud_rate_30d_delay7d",
	}}); err != nil {
		t.Fatal(err)
	}
	if err := r2.CheckSchema("fraud_model", h1); !errors.Is(err, features.ErrSchemaMismatch) {
		t.Errorf("CheckSchema after a window change = %v, want ErrSchemaMismatch", err)
	}
	if err := r.RegisterService(features.FeatureService{Name: "bad", Version: 1, Features: []string{"customer_spending:nope", "ghost:x"}}); !errors.Is(err, features.ErrUnknownFeature) || !errors.Is(err, features.ErrUnknownView) {
		t.Errorf("RegisterService(unknown refs) = %v, want ErrUnknownFeature and ErrUnknownView", err)
	}
}
