package txfeatures

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

// refusingStore is an online store whose writes fail while down is set.
type refusingStore struct {
	*memory.Store
	down bool
}

var errDown = errors.New("store down")

func (s *refusingStore) Write(ctx context.Context, view string, rows []features.Row) (features.WriteStats, error) {
	if s.down {
		return features.WriteStats{}, errDown
	}
	return s.Store.Write(ctx, view, rows)
}

// TestOnlineFreshness: the streaming execution reports each view's freshness as the event
// time of the newest event whose rows the online store took. Events applied while the
// store refuses writes, or while the caller skips it, do not move it; a redelivered event
// counts as a duplicate.
func TestOnlineFreshness(t *testing.T) {
	txs := dataset(t)[:50]
	reg := registry(t, ExactBucket)
	clock := txs[len(txs)-1].Time.Add(time.Hour)
	met, err := features.NewMetrics(nil, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	store := &refusingStore{Store: memory.New(reg)}
	on, err := NewOnline(reg, store, met)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	items := func(from, to int) []Item {
		var out []Item
		for _, tx := range txs[from:to] {
			out = append(out, Item{Tx: tx})
		}
		return out
	}
	check := func(when string, newest time.Time, applied int64) {
		t.Helper()
		for _, view := range []string{CustomerView, TerminalView} {
			if f := met.Freshness(view); !f.Newest.Equal(newest) || f.Lag != clock.Sub(newest) {
				t.Errorf("%s: Freshness(%s) = newest %v lag %v, want %v and %v", when, view, f.Newest, f.Lag, newest, clock.Sub(newest))
			}
			if n := met.Events(view, "applied"); n != applied {
				t.Errorf("%s: Events(%s, applied) = %d, want %d", when, view, n, applied)
			}
		}
	}

	errs := make([]error, len(txs))
	if err := on.ApplyBatch(ctx, items(0, 20), errs, true); err != nil {
		t.Fatal(err)
	}
	check("after a stored batch", txs[19].Time, 20)

	store.down = true
	if err := on.ApplyBatch(ctx, items(20, 30), errs, true); !errors.Is(err, errDown) {
		t.Fatalf("ApplyBatch with the store down = %v, want %v", err, errDown)
	}
	if err := on.ApplyBatch(ctx, items(30, 40), errs, false); err != nil {
		t.Fatal(err)
	}
	check("while the store refuses or is skipped", txs[19].Time, 20)

	store.down = false
	if err := on.ApplyUnlabelled(ctx, txs[40]); err != nil {
		t.Fatal(err)
	}
	check("after a stored single event", txs[40].Time, 21)
	if err := on.ApplyBatch(ctx, items(41, 50), errs, true); err != nil {
		t.Fatal(err)
	}
	check("after the store came back", txs[49].Time, 30)

	on.seq = 49 // a redelivery: the same event ids again
	if err := on.ApplyBatch(ctx, items(49, 50), errs, true); err != nil {
		t.Fatal(err)
	}
	if n := met.Events(CustomerView, "duplicate"); n != 1 {
		t.Errorf("Events(%s, duplicate) after a redelivery = %d, want 1", CustomerView, n)
	}
}

// flakyStore fails its first failures writes, then writes.
type flakyStore struct {
	*memory.Store
	failures, writes int
}

func (s *flakyStore) Write(ctx context.Context, view string, rows []features.Row) (features.WriteStats, error) {
	s.writes++
	if s.failures > 0 {
		s.failures--
		return features.WriteStats{}, errDown
	}
	return s.Store.Write(ctx, view, rows)
}

// TestWarmBatchRetriesWrites: history replayed at start-up survives a store that misses a
// few writes (the items are applied once, their rows written when the store answers, the
// events counted once), and gives up with the store's error after the attempts.
func TestWarmBatchRetriesWrites(t *testing.T) {
	txs := dataset(t)[:50]
	reg := registry(t, ExactBucket)
	met, err := features.NewMetrics(nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{Store: memory.New(reg), failures: 2}
	on, err := NewOnline(reg, store, met)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]Item, len(txs))
	for i, tx := range txs {
		items[i] = Item{Tx: tx}
	}
	errs := make([]error, len(items))
	if err := on.WarmBatch(context.Background(), items, errs, 3, time.Millisecond); err != nil {
		t.Fatalf("WarmBatch with 2 failed writes and 3 attempts = %v, want nil", err)
	}
	for _, view := range []string{CustomerView, TerminalView} {
		if n := met.Events(view, "applied"); n != int64(len(txs)) {
			t.Errorf("Events(%s, applied) = %d, want %d (each event once)", view, n, len(txs))
		}
	}
	want, err := NewOnline(reg, memory.New(reg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := want.ApplyBatch(context.Background(), items, make([]error, len(items)), true); err != nil {
		t.Fatal(err)
	}
	got, exp := make([]float64, Width), make([]float64, Width)
	for _, tx := range txs {
		if err := on.Vector(context.Background(), tx, got); err != nil {
			t.Fatal(err)
		}
		if err := want.Vector(context.Background(), tx, exp); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, exp) {
			t.Fatalf("tx %d: vector after retried warm %v, want %v", tx.ID, got, exp)
		}
	}

	store2 := &flakyStore{Store: memory.New(reg), failures: 5}
	on2, err := NewOnline(reg, store2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := on2.WarmBatch(context.Background(), items, errs, 3, time.Millisecond); !errors.Is(err, errDown) || store2.writes != 3 {
		t.Errorf("WarmBatch against a store that stays down = %v after %d writes, want errDown after 3", err, store2.writes)
	}
}
