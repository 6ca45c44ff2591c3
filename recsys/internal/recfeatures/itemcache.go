package recfeatures

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
)

// ItemCache keeps the item view's rows (item_popularity) in flat arrays indexed by a
// dense slot per item, so a request reads its few hundred candidates' features with one
// map probe and a copy each instead of a store read keyed by decimal strings.
//
// The feature store stays the single source: every value in the cache was read from the
// store (read through on a miss, in one batched read per request), and the cache re-reads
// the items this process writes (Online.Apply calls Refresh after its store write), so the
// next request sees what the store holds. The TTL rule is applied at request time with
// the row's own event time (features.Resolve's rule), so a value goes stale in the cache
// exactly when the store would call it stale. What the cache cannot see is a write by
// another process to a shared store (Redis): such a value is served from the cache until
// this process writes that item or Refresh is called for it.
type ItemCache struct {
	store features.OnlineStore
	ttl   time.Duration

	mu    sync.RWMutex
	slot  map[int64]int32
	vals  []float64 // len(ItemWindows) per slot; 0 for a missing value
	times []int64   // the row's event time in Unix nanoseconds; 0: no row in the store
	gens  []uint64  // the ticket of the read that wrote the slot

	// ticket orders reads: a read that started later saw the store at least as new, so a
	// slot keeps the values of the latest-started read (a request's read-through that
	// started before a writer's refresh cannot overwrite the refresh's newer values).
	ticket atomic.Uint64

	pool sync.Pool // *missScratch
}

type missScratch struct {
	ids  []int64
	keys []string
	res  features.ReadResult
}

// NewItemCache returns an empty cache over store for the item view registered in reg.
func NewItemCache(reg *features.Registry, store features.OnlineStore) (*ItemCache, error) {
	v, err := reg.View(ItemView)
	if err != nil {
		return nil, err
	}
	if len(v.Aggregations) != len(ItemWindows) {
		return nil, fmt.Errorf("item cache: view %s has %d features, want %d", ItemView, len(v.Aggregations), len(ItemWindows))
	}
	c := &ItemCache{store: store, ttl: v.TTL, slot: map[int64]int32{}}
	c.pool.New = func() any { return &missScratch{} }
	return c, nil
}

// Len is the number of items cached (with or without a row in the store).
func (c *ItemCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.slot)
}

// never is a read time before any row: the store then reports every row Present with its
// event time, and the cache applies the TTL itself at request time.
var never = time.Unix(0, 1)

// Refresh re-reads items from the store, in one read, and stores what it holds (items
// without a row are cached as having none).
func (c *ItemCache) Refresh(ctx context.Context, items []int64) error {
	if len(items) == 0 {
		return nil
	}
	ms := c.pool.Get().(*missScratch)
	defer c.pool.Put(ms)
	ticket := c.ticket.Add(1)
	ms.keys = ms.keys[:0]
	for _, it := range items {
		ms.keys = append(ms.keys, IDString(it))
	}
	if err := features.ReadInto(ctx, c.store, features.ReadRequest{At: never, Views: []features.ViewRequest{
		{View: ItemView, Entities: ms.keys},
	}}, &ms.res); err != nil {
		return fmt.Errorf("item cache: read: %w", err)
	}
	iv := ms.res.Views[0]
	w := len(ItemWindows)
	c.mu.Lock()
	defer c.mu.Unlock()
	for e, it := range items {
		s, ok := c.slot[it]
		if !ok {
			s = int32(len(c.times))
			c.slot[it] = s
			c.vals = append(c.vals, make([]float64, w)...)
			c.times = append(c.times, 0)
			c.gens = append(c.gens, 0)
		}
		if c.gens[s] > ticket {
			continue // a later read has written this item already
		}
		c.gens[s] = ticket
		row := c.vals[int(s)*w : (int(s)+1)*w]
		var t time.Time
		for f := range row {
			fv := iv.Get(e, f)
			row[f] = fv.Value.Float()
			if !fv.Time.IsZero() {
				t = fv.Time
			}
		}
		c.times[s] = 0
		if !t.IsZero() {
			c.times[s] = t.UnixNano()
		}
	}
	return nil
}

// fill writes the features of items at time at into rows (len(items) rows of
// len(ItemWindows)), reading the items the cache does not hold from the store first.
func (c *ItemCache) fill(ctx context.Context, items []int64, at time.Time, rows [][]float64) error {
	if err := c.readMisses(ctx, items); err != nil {
		return err
	}
	w := len(ItemWindows)
	atNs := at.UnixNano()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for e, it := range items {
		row := rows[e]
		s, ok := c.slot[it]
		// features.Resolve's rule: no row, or older than the TTL at read time, reads as 0.
		if !ok || c.times[s] == 0 || (c.ttl > 0 && atNs-c.times[s] > int64(c.ttl)) {
			clear(row)
			continue
		}
		copy(row, c.vals[int(s)*w:(int(s)+1)*w])
	}
	return nil
}

// readMisses reads through the items the cache does not hold yet.
func (c *ItemCache) readMisses(ctx context.Context, items []int64) error {
	c.mu.RLock()
	miss := -1
	for e, it := range items {
		if _, ok := c.slot[it]; !ok {
			miss = e
			break
		}
	}
	if miss < 0 {
		c.mu.RUnlock()
		return nil
	}
	ms := c.pool.Get().(*missScratch)
	defer c.pool.Put(ms)
	ids := ms.ids[:0]
	for _, it := range items[miss:] {
		if _, ok := c.slot[it]; !ok {
			ids = append(ids, it)
		}
	}
	c.mu.RUnlock()
	ms.ids = ids
	// Refresh takes its own scratch from the pool, so ms.ids stays intact.
	return c.Refresh(ctx, ids)
}

// ReadCached is Read with the item features taken from cache: the user's row is read from
// the store (one entity), the candidates' from the cache (read through on a miss).
// Missing and stale values read as 0, as in Read and the table.
func ReadCached(ctx context.Context, store features.OnlineStore, cache *ItemCache, user int64, items []int64, at time.Time, s *Stats) error {
	if at.IsZero() {
		at = time.Now()
	}
	s.ids = append(s.ids[:0], IDString(user))
	err := features.ReadInto(ctx, store, features.ReadRequest{At: at, Views: []features.ViewRequest{
		{View: UserView, Entities: s.ids},
	}}, &s.res)
	if err != nil {
		return fmt.Errorf("online features: read: %w", err)
	}
	uv := s.res.Views[0]
	s.User = fill(s.User, nil, len(UserWindows))
	for f := range s.User {
		s.User[f] = uv.Get(0, f).Value.Float()
	}
	s.Items = growRows(s.Items, len(items), len(ItemWindows))
	if err := cache.fill(ctx, items, at, s.Items); err != nil {
		return fmt.Errorf("online features: %w", err)
	}
	return nil
}
