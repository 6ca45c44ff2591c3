package recfeatures

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

// The cache serves what the store holds: a read through the cache equals a read of the
// store (and the offline table) after every batch of writes, for items it has cached
// before the write (refreshed by Apply) and for items it meets for the first time (read
// through), including ids the store has never seen; and past the view's TTL both read 0.
func TestItemCacheMatchesStore(t *testing.T) {
	ctx := context.Background()
	reg := features.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	ins := interactions(3000, 11)
	store := memory.New(reg)
	on, err := NewOnline(reg, store)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := NewItemCache(reg, store)
	if err != nil {
		t.Fatal(err)
	}
	on.CacheItems(cache)
	items := make([]int64, 52) // two ids never seen
	for i := range items {
		items[i] = int64(i + 1)
	}
	compare := func(at time.Time, n int, label string) (nonzero int) {
		t.Helper()
		for u := int64(0); u <= 31; u++ {
			var direct, cached Stats
			if err := Read(ctx, store, u, items, at, &direct); err != nil {
				t.Fatal(err)
			}
			if err := ReadCached(ctx, store, cache, u, items, at, &cached); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(direct.User, cached.User) {
				t.Fatalf("%s, after %d interactions: user %d: store %v, cached %v", label, n, u, direct.User, cached.User)
			}
			for i := range items {
				if !slices.Equal(direct.Items[i], cached.Items[i]) {
					t.Fatalf("%s, after %d interactions: item %d: store %v, cached %v", label, n, items[i], direct.Items[i], cached.Items[i])
				}
				if cached.Items[i][len(ItemWindows)-1] > 0 {
					nonzero++
				}
			}
		}
		return nonzero
	}
	// The first read fills the cache with items that have no row yet.
	compare(ins[0].Time, 0, "empty store")
	if cache.Len() != len(items) {
		t.Fatalf("cache.Len() = %d after the first read, want %d", cache.Len(), len(items))
	}
	nonzero := 0
	for lo := 0; lo < len(ins); lo += 211 {
		hi := min(lo+211, len(ins))
		if err := on.Apply(ctx, ins[lo:hi]); err != nil {
			t.Fatal(err)
		}
		nonzero += compare(ins[hi-1].Time, hi, "now")
	}
	if nonzero == 0 {
		t.Fatal("every item count is 0: the test compares nothing")
	}
	item, _ := Views()
	late := ins[len(ins)-1].Time.Add(item.TTL + time.Hour)
	if compare(late, len(ins), "past the TTL") != 0 {
		t.Fatal("values past the TTL read as nonzero")
	}
}

// A read-through that started before a writer's refresh must not overwrite the refresh's
// newer values when it lands after it.
func TestItemCacheKeepsTheLatestRead(t *testing.T) {
	ctx := context.Background()
	reg := features.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	store := &gatedStore{OnlineStore: memory.New(reg)}
	on, err := NewOnline(reg, store)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := NewItemCache(reg, store)
	if err != nil {
		t.Fatal(err)
	}
	on.CacheItems(cache)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The request's read of item 7 sees an empty store, then waits.
	store.hold, store.held, store.release = true, make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		var s Stats
		done <- ReadCached(ctx, store, cache, 1, []int64{7}, t0, &s)
	}()
	<-store.held
	// Meanwhile a click on item 7 is written and refreshed.
	if err := on.Apply(ctx, []Interaction{{User: 2, Item: 7, Time: t0}}); err != nil {
		t.Fatal(err)
	}
	close(store.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var s Stats
	if err := ReadCached(ctx, store, cache, 1, []int64{7}, t0, &s); err != nil {
		t.Fatal(err)
	}
	if s.Items[0][0] != 1 {
		t.Fatalf("item 7's 1-day count = %v after the click, want 1 (an older read overwrote the refresh)", s.Items[0][0])
	}
}

// gatedStore holds the first item-view read after its values were taken until release
// is closed.
type gatedStore struct {
	features.OnlineStore
	hold          bool
	held, release chan struct{}
}

func (g *gatedStore) Read(ctx context.Context, req features.ReadRequest) (*features.ReadResult, error) {
	res, err := g.OnlineStore.Read(ctx, req)
	if g.hold && len(req.Views) == 1 && req.Views[0].View == ItemView {
		g.hold = false
		close(g.held)
		<-g.release
	}
	return res, err
}
