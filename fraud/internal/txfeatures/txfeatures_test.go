package txfeatures

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

func dataset(t *testing.T) []sim.Transaction {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 200, 400, 45
	d, err := sim.Generate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d.Transactions
}

func registry(t *testing.T, bucket time.Duration) *features.Registry {
	t.Helper()
	r := features.NewRegistry()
	if err := Register(r, bucket); err != nil {
		t.Fatal(err)
	}
	return r
}

// withTies adds, for every 50th transaction, a second transaction of the same customer in
// the same second at another terminal (a later id, so it arrives second), and returns the
// data in time order with the number planted.
func withTies(txs []sim.Transaction) ([]sim.Transaction, int) {
	out := append([]sim.Transaction(nil), txs...)
	next := txs[len(txs)-1].ID + 1
	n := 0
	for i := 0; i < len(txs); i += 50 {
		twin := txs[i]
		twin.ID, twin.Terminal, twin.Amount = next, (twin.Terminal+1)%400, twin.Amount+7
		next++
		out = append(out, twin)
		n++
	}
	SortByTime(out)
	return out, n
}

// The batch and the streaming executions, the latter read back through an online store,
// give every transaction bit-identical vectors, including transactions of one customer in
// the same second (planted), which both count in arrival order: one at a time (Apply, then
// Vector) and in runs where no card or terminal repeats, as the scorer reads them
// (ApplyRead).
func TestOfflineOnlineParity(t *testing.T) {
	txs, planted := withTies(dataset(t))
	reg := registry(t, ExactBucket)
	off, err := Offline(reg, txs)
	if err != nil {
		t.Fatalf("Offline = %v", err)
	}
	ties := 0
	type inst struct {
		customer int
		t        int64
	}
	prev := map[inst]int{}
	for i, tx := range txs {
		k := inst{tx.Customer, tx.Time.UnixNano()}
		if p, ok := prev[k]; ok {
			ties++
			// The later one counts the earlier; the earlier does not count the later.
			if a, b := off[p*Width+3], off[i*Width+3]; b != a+1 {
				t.Fatalf("tie %d/%d: 1-day counts %v and %v, want the second one more", txs[p].ID, tx.ID, a, b)
			}
		}
		prev[k] = i
	}
	if ties < planted {
		t.Fatalf("%d same-second pairs in the data, want at least the %d planted", ties, planted)
	}
	ctx := context.Background()
	on, err := NewOnline(reg, memory.New(reg), nil)
	if err != nil {
		t.Fatal(err)
	}
	vec := make([]float64, Width)
	for i, tx := range txs {
		if err := on.Apply(ctx, tx); err != nil {
			t.Fatalf("Apply(%d) = %v", tx.ID, err)
		}
		if err := on.Vector(ctx, tx, vec); err != nil {
			t.Fatalf("Vector(%d) = %v", tx.ID, err)
		}
		for j := range vec {
			if w := off[i*Width+j]; math.Float64bits(vec[j]) != math.Float64bits(w) {
				t.Fatalf("transaction %d %s: online %v, offline %v", tx.ID, Names[j], vec[j], w)
			}
		}
	}
	// In runs, as the scorer applies a batch: a run ends before a card or terminal repeats.
	on, err = NewOnline(reg, memory.New(reg), nil)
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < len(txs); {
		cards, terms := map[int]bool{}, map[int]bool{}
		hi := lo
		for hi < len(txs) && hi-lo < 256 && !cards[txs[hi].Customer] && !terms[txs[hi].Terminal] {
			cards[txs[hi].Customer], terms[txs[hi].Terminal] = true, true
			hi++
		}
		items := make([]Item, hi-lo)
		for k := range items {
			items[k] = Item{Tx: txs[lo+k]}
		}
		out := make([]float64, (hi-lo)*Width)
		if err := on.ApplyRead(ctx, items, make([]error, len(items)), txs[lo:hi], out); err != nil {
			t.Fatal(err)
		}
		for k := range out {
			// The stream has no labels yet: compare the customer columns, which need none.
			if j := k % Width; j >= 3 && j < 9 {
				if w := off[lo*Width+k]; math.Float64bits(out[k]) != math.Float64bits(w) {
					t.Fatalf("run at %d: transaction %d %s: online %v, offline %v", lo, txs[lo+k/Width].ID, Names[j], out[k], w)
				}
			}
		}
		lo = hi
	}
}

// bruteForce computes the handbook's definitions directly: customer windows (t-N, t],
// terminal windows (t-7d-N, t-7d]; of the customer's transactions at the same instant,
// those up to this one by id (arrival order).
func bruteForce(txs []sim.Transaction) []float64 {
	out := make([]float64, len(txs)*Width)
	byCustomer, byTerminal := map[int][]sim.Transaction{}, map[int][]sim.Transaction{}
	for _, u := range txs {
		byCustomer[u.Customer] = append(byCustomer[u.Customer], u)
		byTerminal[u.Terminal] = append(byTerminal[u.Terminal], u)
	}
	for i, tx := range txs {
		o := out[i*Width : (i+1)*Width]
		o[0] = tx.Amount
		o[1] = b2f(tx.Time.Weekday() == time.Saturday || tx.Time.Weekday() == time.Sunday)
		o[2] = b2f(tx.Time.Hour() <= 6)
		for k, d := range WindowDays {
			n := time.Duration(d) * day
			var cn, sum, tn, frauds float64
			for _, u := range byCustomer[tx.Customer] {
				if u.Time.After(tx.Time.Add(-n)) && (u.Time.Before(tx.Time) || (u.Time.Equal(tx.Time) && u.ID <= tx.ID)) {
					cn++
					sum += u.Amount
				}
			}
			for _, u := range byTerminal[tx.Terminal] {
				end := tx.Time.Add(-Delay)
				if u.Time.After(end.Add(-n)) && !u.Time.After(end) {
					tn++
					frauds += b2f(u.Fraud)
				}
			}
			o[3+2*k], o[4+2*k] = cn, sum/cn
			o[9+2*k] = tn
			if tn > 0 {
				o[10+2*k] = frauds / tn
			}
		}
	}
	return out
}

// With one-second buckets the feature store's windows are the handbook's: counts exactly,
// means and rates to 1e-12 relative (only the order of float additions differs). With
// hourly buckets they are not, and the test says how often.
func TestExactAgainstBruteForce(t *testing.T) {
	txs, _ := withTies(dataset(t))
	want := bruteForce(txs)
	for _, tc := range []struct {
		bucket time.Duration
		exact  bool
	}{{ExactBucket, true}, {time.Hour, false}} {
		got, err := Offline(registry(t, tc.bucket), txs)
		if err != nil {
			t.Fatal(err)
		}
		diff := make([]int, Width)
		for i := range txs {
			for j := range Width {
				g, w := got[i*Width+j], want[i*Width+j]
				if math.Abs(g-w) > 1e-12*math.Max(1, math.Abs(w)) {
					diff[j]++
					if tc.exact {
						t.Fatalf("bucket %v: transaction %d %s = %v, want %v", tc.bucket, txs[i].ID, Names[j], g, w)
					}
				}
			}
		}
		if !tc.exact {
			total := 0
			var parts []string
			for j, n := range diff {
				total += n
				if n > 0 {
					parts = append(parts, Names[j]+"="+itoa(n))
				}
			}
			if total == 0 {
				t.Errorf("bucket %v: no difference from the exact windows; the test no longer shows what bucketing costs", tc.bucket)
			}
			t.Logf("bucket %v: of %d transactions, values differing from the handbook's: %s", tc.bucket, len(txs), strings.Join(parts, " "))
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestCalendar(t *testing.T) {
	for _, tc := range []struct {
		at             string
		weekend, night bool
	}{
		{"2018-04-01 06:59:59", true, true},   // Sunday
		{"2018-04-02 07:00:00", false, false}, // Monday
		{"2018-04-07 00:00:00", true, true},   // Saturday
		{"2018-04-06 23:59:59", false, false}, // Friday
	} {
		at, err := time.Parse(sim.DateTimeLayout, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if Weekend(at) != tc.weekend || Night(at) != tc.night {
			t.Errorf("Weekend, Night(%s) = %v, %v, want %v, %v", tc.at, Weekend(at), Night(at), tc.weekend, tc.night)
		}
	}
}

func TestOfflineRejectsDisorder(t *testing.T) {
	txs := dataset(t)[:100]
	txs[10], txs[50] = txs[50], txs[10]
	_, err := Offline(registry(t, ExactBucket), txs)
	if err == nil || !strings.Contains(err.Error(), "time order") {
		t.Errorf("Offline(out of order) = %v, want an ErrOrder", err)
	}
}

// Labels arriving on their own after a delay: while the delay is at most the 7 days the
// terminal windows skip less one bucket (hourly here: the window's end is bucket-aligned,
// so it can reach up to a bucket closer than 7 days to a transaction), the streamed
// features equal those computed with every label known; with a longer delay, a terminal's fraud count is never higher than the
// handbook's — a label is used once known, never earlier — and lower for some.
func TestDelayedLabels(t *testing.T) {
	txs := dataset(t)
	want, err := Offline(registry(t, time.Hour), txs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		delay time.Duration
		exact bool
	}{{3 * day, true}, {7*day - time.Hour, true}, {10 * day, false}} {
		reg := features.NewRegistry()
		if err := RegisterLabelled(reg, time.Hour, 11*day); err != nil {
			t.Fatal(err)
		}
		on, err := NewOnline(reg, memory.New(reg), nil)
		if err != nil {
			t.Fatal(err)
		}
		// Labels queue up and are applied once their arrival time has passed.
		var pending []sim.Transaction
		vec := make([]float64, Width)
		lower := 0
		for i, tx := range txs {
			for len(pending) > 0 && !pending[0].Time.Add(tc.delay).After(tx.Time) {
				if err := on.ApplyLabel(ctx, pending[0]); err != nil {
					t.Fatalf("delay %v: ApplyLabel(%d) = %v", tc.delay, pending[0].ID, err)
				}
				pending = pending[1:]
			}
			if err := on.ApplyUnlabelled(ctx, tx); err != nil {
				t.Fatalf("delay %v: ApplyUnlabelled(%d) = %v", tc.delay, tx.ID, err)
			}
			if tx.Fraud {
				pending = append(pending, tx)
			}
			if err := on.Vector(ctx, tx, vec); err != nil {
				t.Fatal(err)
			}
			for j := 9; j < Width; j++ {
				g, w := vec[j], want[i*Width+j]
				switch {
				case tc.exact && math.Abs(g-w) > 1e-12:
					t.Fatalf("delay %v: transaction %d %s = %v, want %v", tc.delay, tx.ID, Names[j], g, w)
				case !tc.exact && g > w+1e-12:
					t.Fatalf("delay %v: transaction %d %s = %v, above the all-known %v: a label used before it arrived", tc.delay, tx.ID, Names[j], g, w)
				case g < w-1e-12:
					lower++
				}
			}
		}
		if !tc.exact && lower == 0 {
			t.Errorf("delay %v: no terminal risk lower than with every label known", tc.delay)
		}
		t.Logf("delay %v: %d terminal values lower than with all labels known", tc.delay, lower)
	}
}
