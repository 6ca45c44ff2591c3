// Package recfeatures defines the recommender's user and item features on the platform's
// feature store: two aggregation views over the interaction stream (how often an item was
// chosen, how active a user is, over sliding event-time windows), one transform each,
// executed offline by features.ComputeBatch when the ranker's training set is built and
// online by features.Aggregator as interactions arrive, and read for a user and a few
// hundred candidate items in one round trip when a request is ranked.
package recfeatures

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
)

// View names.
const (
	ItemView = "item_popularity"
	UserView = "user_activity"
)

// Source is the stream interactions are read from.
const Source = "recsys.interactions"

// Bucket is the aggregation granularity: an hour.
const Bucket = time.Hour

const day = 24 * time.Hour

// ItemWindows and UserWindows are the window lengths in days; the last is the "long" one.
var (
	ItemWindows = []int{1, 7, 30, 365}
	UserWindows = []int{7, 30, 365}
)

// UserField is the pii field user ids are tokenized under; it is also the name of the user
// entity, which is marked PII: its keys are keyed-hash tokens, never raw user ids.
const UserField = "user"

var (
	itemEntity = features.Entity{Name: "item", JoinKey: "item_id"}
	userEntity = features.Entity{Name: UserField, JoinKey: "user_id", PII: true}
)

// Views returns the item and user views.
func Views() (item, user features.FeatureView) {
	item = features.FeatureView{Name: ItemView, Entity: itemEntity, Source: Source, Bucket: Bucket,
		Transform: byItem, AllowedLateness: day, TTL: 400 * day}
	user = features.FeatureView{Name: UserView, Entity: userEntity, Source: Source, Bucket: Bucket,
		Transform: byUser, AllowedLateness: day, TTL: 400 * day}
	for _, d := range ItemWindows {
		item.Aggregations = append(item.Aggregations, features.Aggregation{Name: fmt.Sprintf("item_count_%dd", d),
			Func: features.Count, Window: features.Window{Length: time.Duration(d) * day}})
	}
	for _, d := range UserWindows {
		user.Aggregations = append(user.Aggregations, features.Aggregation{Name: fmt.Sprintf("user_count_%dd", d),
			Func: features.Count, Window: features.Window{Length: time.Duration(d) * day}})
	}
	return item, user
}

// Register adds both views to r.
func Register(r *features.Registry) error {
	item, user := Views()
	for _, v := range []features.FeatureView{item, user} {
		if err := r.RegisterView(v); err != nil {
			return fmt.Errorf("register %s: %w", v.Name, err)
		}
	}
	return nil
}

// Interaction is one positive interaction (a rating, a click) as the feature store sees it.
type Interaction struct {
	User, Item int64
	Time       time.Time
}

// Event is the feature-store event of an interaction at log position seq; its payload is
// "user|item" and its id names both and the time, so a redelivery is recognised.
func Event(in Interaction, seq uint64) features.Event {
	u, i := strconv.FormatInt(in.User, 10), strconv.FormatInt(in.Item, 10)
	return features.Event{ID: u + "-" + i + "-" + strconv.FormatInt(in.Time.UnixNano(), 10), Time: in.Time, Seq: seq,
		Data: []byte(u + "|" + i)}
}

func split(data []byte) (user, item string, err error) {
	for i, b := range data {
		if b == '|' {
			user, item = string(data[:i]), string(data[i+1:])
			if user == "" || item == "" {
				break
			}
			return user, item, nil
		}
	}
	return "", "", fmt.Errorf("interaction event %q: want user|item", data)
}

func byItem(ev features.Event, in *features.Input) error {
	_, item, err := split(ev.Data)
	in.Entity = item
	return err
}

func byUser(ev features.Event, in *features.Input) error {
	user, _, err := split(ev.Data)
	in.Entity = user
	return err
}

// Stats are one user's and many items' feature values, as the ranker reads them: counts
// per window in the order of UserWindows and ItemWindows (0 for an entity with none).
type Stats struct {
	User  []float64
	Items [][]float64

	ids []string            // Read's request keys, reused
	res features.ReadResult // Read's answer, reused (features.ReadInto)
}

// Table holds the newest row of every entity of both views: the offline execution, for
// building training sets and evaluating.
type Table struct {
	items, users map[string][]float64
}

// ComputeTable runs both views over the interactions (in log order) with the batch
// execution and keeps every entity's newest row.
func ComputeTable(reg *features.Registry, ins []Interaction) (*Table, error) {
	events := make([]features.Event, len(ins))
	for i, in := range ins {
		events[i] = Event(in, uint64(i+1))
	}
	t := &Table{}
	for _, name := range []string{ItemView, UserView} {
		v, err := reg.View(name)
		if err != nil {
			return nil, err
		}
		res, err := features.ComputeBatch(v, events, features.BatchOptions{IgnoreLateness: true})
		if err != nil {
			return nil, fmt.Errorf("compute %s: %w", name, err)
		}
		latest := map[string][]float64{}
		for _, r := range res.Rows { // entity then time order: the last row per entity wins
			latest[r.Entity] = values(r.Values)
		}
		if name == ItemView {
			t.items = latest
		} else {
			t.users = latest
		}
	}
	return t, nil
}

func values(vs []features.Value) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = v.Float()
	}
	return out
}

// Stats is Lookup behind the online read's signature, so the table can stand in for the
// online store (recommend.Features) in offline evaluation.
func (t *Table) Stats(_ context.Context, user int64, items []int64, s *Stats) error {
	t.Lookup(user, items, s)
	return nil
}

// Lookup fills s for user and items from the table.
func (t *Table) Lookup(user int64, items []int64, s *Stats) {
	s.User = fill(s.User, t.users[strconv.FormatInt(user, 10)], len(UserWindows))
	s.Items = growRows(s.Items, len(items), len(ItemWindows))
	for e, it := range items {
		s.Items[e] = fill(s.Items[e], t.items[IDString(it)], len(ItemWindows))
	}
}

// growRows resizes rows to n rows of width w, reusing the rows' storage across calls.
func growRows(rows [][]float64, n, w int) [][]float64 {
	if cap(rows) < n {
		rows = append(rows[:cap(rows)], make([][]float64, n-cap(rows))...)
	}
	rows = rows[:n]
	for i := range rows {
		if cap(rows[i]) < w {
			rows[i] = make([]float64, w)
		}
		rows[i] = rows[i][:w]
	}
	return rows
}

// idStrings caches the decimal form of ids, the online store's entity keys: a request
// names a few hundred items, and formatting each every time was a third of its garbage.
var idStrings sync.Map // int64 → string

// IDString returns id in decimal, from a process-wide cache (ids are a bounded catalogue).
func IDString(id int64) string {
	if v, ok := idStrings.Load(id); ok {
		return v.(string)
	}
	s := strconv.FormatInt(id, 10)
	idStrings.Store(id, s)
	return s
}

func fill(dst, src []float64, n int) []float64 {
	dst = append(dst[:0], make([]float64, n)...)
	copy(dst, src)
	return dst
}

// Online is the streaming execution: interactions are applied to both views' aggregators
// and the rows they change written to the online store; requests read from the store.
type Online struct {
	store      features.OnlineStore
	item, user *features.Aggregator
	seq        uint64
	cache      *ItemCache
}

// CacheItems makes Apply refresh c with the items it writes, after each store write, so a
// request reading c sees the store's new values.
func (o *Online) CacheItems(c *ItemCache) { o.cache = c }

// NewOnline returns the online execution over store for the views registered in reg.
func NewOnline(reg *features.Registry, store features.OnlineStore) (*Online, error) {
	o := &Online{store: store}
	for _, p := range []struct {
		name string
		dst  **features.Aggregator
	}{{ItemView, &o.item}, {UserView, &o.user}} {
		v, err := reg.View(p.name)
		if err != nil {
			return nil, err
		}
		if *p.dst, err = features.NewAggregator(v); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Apply feeds interactions (in log order) to both aggregators and writes the changed rows,
// one write per view. Not safe for concurrent use: one consumer applies.
func (o *Online) Apply(ctx context.Context, ins []Interaction) error {
	var irows, urows []features.Row
	for _, in := range ins {
		o.seq++
		ev := Event(in, o.seq)
		rows, _, err := o.item.Apply(ev)
		if err != nil {
			return fmt.Errorf("online %s: %w", ItemView, err)
		}
		irows = append(irows, rows...)
		if rows, _, err = o.user.Apply(ev); err != nil {
			return fmt.Errorf("online %s: %w", UserView, err)
		}
		urows = append(urows, rows...)
	}
	for _, w := range []struct {
		view string
		rows []features.Row
	}{{ItemView, irows}, {UserView, urows}} {
		if len(w.rows) == 0 {
			continue
		}
		if _, err := o.store.Write(ctx, w.view, w.rows); err != nil {
			return fmt.Errorf("online features: write %s: %w", w.view, err)
		}
	}
	if o.cache != nil && len(irows) > 0 {
		seen := make(map[int64]struct{}, len(ins))
		items := make([]int64, 0, len(ins))
		for _, in := range ins {
			if _, ok := seen[in.Item]; !ok {
				seen[in.Item] = struct{}{}
				items = append(items, in.Item)
			}
		}
		if err := o.cache.Refresh(ctx, items); err != nil {
			return fmt.Errorf("online features: %w", err)
		}
	}
	return nil
}

// Read fills s for user and items in one round trip to the store. Missing and stale values
// read as 0, as in the table.
func Read(ctx context.Context, store features.OnlineStore, user int64, items []int64, at time.Time, s *Stats) error {
	s.ids = s.ids[:0]
	for _, it := range items {
		s.ids = append(s.ids, IDString(it))
	}
	ids := s.ids
	err := features.ReadInto(ctx, store, features.ReadRequest{At: at, Views: []features.ViewRequest{
		{View: UserView, Entities: []string{IDString(user)}},
		{View: ItemView, Entities: ids},
	}}, &s.res)
	if err != nil {
		return fmt.Errorf("online features: read: %w", err)
	}
	res := &s.res
	uv, iv := res.Views[0], res.Views[1]
	s.User = fill(s.User, nil, len(UserWindows))
	for f := range s.User {
		s.User[f] = uv.Get(0, f).Value.Float()
	}
	s.Items = growRows(s.Items, len(ids), len(ItemWindows))
	for e := range ids {
		row := s.Items[e]
		for f := range row {
			row[f] = iv.Get(e, f).Value.Float()
		}
	}
	return nil
}
