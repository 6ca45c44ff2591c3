package recommend_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/casebook-ml/casebook/recsys/internal/recommend"
)

func TestHistory(t *testing.T) {
	h := recommend.NewHistory()
	adds := []struct {
		user, item int64
		want       bool
	}{
		{1, 5, true},
		{1, 3, true},
		{1, 5, false}, // again: nothing changes
		{1, 9, true},
		{2, 5, true}, // another user's history is separate
		{1, 3, false},
	}
	for _, a := range adds {
		if got := h.Add(a.user, a.item); got != a.want {
			t.Errorf("Add(%d, %d) = %v, want %v", a.user, a.item, got, a.want)
		}
	}
	tests := []struct {
		user          int64
		order, sorted []int64
	}{
		{1, []int64{5, 3, 9}, []int64{3, 5, 9}},
		{2, []int64{5}, []int64{5}},
		{3, []int64{}, []int64{}},
	}
	for _, tt := range tests {
		// Buffers with stale contents: Snapshot must replace, not append to them.
		order, sorted := h.Snapshot(tt.user, []int64{42, 43}, []int64{44})
		if !slices.Equal(order, tt.order) || !slices.Equal(sorted, tt.sorted) {
			t.Errorf("Snapshot(%d) = %v, %v; want %v, %v", tt.user, order, sorted, tt.order, tt.sorted)
		}
		if got := h.Len(tt.user); got != len(tt.order) {
			t.Errorf("Len(%d) = %d, want %d", tt.user, got, len(tt.order))
		}
	}
	if got := h.Users(); got != 2 {
		t.Errorf("Users() = %d, want 2", got)
	}

	// The snapshot is a copy: changing it, or adding later, does not touch the other.
	order, sorted := h.Snapshot(1, nil, nil)
	order[0], sorted[0] = 100, 100
	h.Add(1, 1)
	if o, s := h.Snapshot(1, nil, nil); !slices.Equal(o, []int64{5, 3, 9, 1}) || !slices.Equal(s, []int64{1, 3, 5, 9}) {
		t.Errorf("Snapshot(1) after editing an earlier snapshot and Add(1, 1) = %v, %v; want [5 3 9 1], [1 3 5 9]", o, s)
	}
	if !slices.Equal(order, []int64{100, 3, 9}) || !slices.Equal(sorted, []int64{100, 5, 9}) {
		t.Errorf("an earlier snapshot changed after Add: %v, %v", order, sorted)
	}
}

// Adds and snapshots from many goroutines: every snapshot is consistent and nothing is
// lost. Run with -race.
func TestHistoryConcurrent(t *testing.T) {
	h := recommend.NewHistory()
	const writers, perWriter = 4, 300
	var wg sync.WaitGroup
	var added [writers]int
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				// Items interleave across writers; every writer also repeats one item.
				if h.Add(7, int64(i*writers+g)) {
					added[g]++
				}
				h.Add(7, int64(g))
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			var order, sorted []int64
			for range 200 {
				order, sorted = h.Snapshot(7, order, sorted)
				if len(order) != len(sorted) || !slices.IsSorted(sorted) {
					t.Errorf("Snapshot during adds: %d in order, %d sorted (sorted: %v)", len(order), len(sorted), slices.IsSorted(sorted))
					return
				}
				if o := slices.Sorted(slices.Values(order)); !slices.Equal(o, sorted) || len(slices.Compact(o)) != len(sorted) {
					t.Errorf("Snapshot during adds: order and sorted hold different items, or a repeat")
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range added {
		total += n
	}
	if total != writers*perWriter || h.Len(7) != writers*perWriter {
		t.Errorf("after %d distinct adds: %d reported new, Len %d; want %d each", writers*perWriter, total, h.Len(7), writers*perWriter)
	}
}
