// Package profiles is the bidder's user profile store on the platform's feature store: a
// plain feature view (geo, device, two interest segments, age bucket) keyed by user id,
// written by a batch materialization and read once per ad request. In the local default it
// is the in-memory online store; in the integration shape, Redis.
package profiles

import (
	"context"
	"fmt"
	"time"

	"github.com/casebook-ml/casebook/adsranking/internal/ctr"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
)

// View is the feature view's name.
const View = "ad_user_profile"

// UserField is the pii field user ids (a bid request's user.id) are tokenized under; it is
// also the name of the profile view's entity, which is marked PII.
const UserField = "user"

var names = []string{"geo", "device", "seg1", "seg2", "age"}

// Definition is the profile view: plain (one row per user, replaced on write), kept 30 days.
func Definition() features.FeatureView {
	fs := make([]features.Feature, len(names))
	for i, n := range names {
		fs[i] = features.Feature{Name: n, Kind: features.KindInt}
	}
	return features.FeatureView{Name: View, Entity: features.Entity{Name: UserField, JoinKey: "user_id", PII: true},
		Features: fs, TTL: 30 * 24 * time.Hour, Source: "adsranking/sim users"}
}

// Register adds the view to reg.
func Register(reg *features.Registry) error {
	if err := reg.RegisterView(Definition()); err != nil {
		return fmt.Errorf("register %s: %w", View, err)
	}
	return nil
}

// Key is a user's entity key, as the request's user.id carries it.
func Key(id int64) string { return sim.UserKey(id) }

// TokenKey is the entity key of the user whose request carries user.id raw: its keyed-hash
// token under tok (tok.Token(UserField, raw)), or raw itself when tok is nil.
func TokenKey(tok *pii.Tokenizer, raw string) string {
	if tok == nil {
		return raw
	}
	return tok.Token(UserField, raw)
}

// Materialize writes every user's profile as of at, keyed by TokenKey(tok, Key(id)): with
// a tokenizer no raw user id reaches the store, and a bidder holding the same key finds the
// profile by tokenizing the request's user.id (bidder.Deps.Tokenizer).
func Materialize(ctx context.Context, store features.OnlineStore, users []sim.User, at time.Time, tok *pii.Tokenizer) error {
	const batch = 5000
	rows := make([]features.Row, 0, batch)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if _, err := store.Write(ctx, View, rows); err != nil {
			return fmt.Errorf("materialize %s: %w", View, err)
		}
		rows = rows[:0]
		return nil
	}
	for i := range users {
		u := &users[i]
		rows = append(rows, features.Row{Entity: TokenKey(tok, Key(u.ID)), Time: at, Values: []features.Value{
			features.Int(int64(u.Geo)), features.Int(int64(u.Device)), features.Int(int64(u.Segments[0])),
			features.Int(int64(u.Segments[1])), features.Int(int64(u.Age))}})
		if len(rows) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// Reader reads one profile per call, reusing its buffers: one per goroutine.
type Reader struct {
	store features.OnlineStore
	req   features.ReadRequest
	res   features.ReadResult
}

// NewReader reads from store.
func NewReader(store features.OnlineStore) *Reader {
	return &Reader{store: store, req: features.ReadRequest{Views: []features.ViewRequest{{View: View, Entities: make([]string, 1)}}}}
}

// Get returns the stored profile of key, and false when the store has none (or only a
// stale one). at is the read time the TTL is measured from.
func (r *Reader) Get(ctx context.Context, key string, at time.Time) (ctr.Profile, bool, error) {
	r.req.At = at
	r.req.Views[0].Entities[0] = key
	var err error
	if ri, ok := r.store.(features.ReaderInto); ok {
		err = ri.ReadInto(ctx, r.req, &r.res)
	} else {
		var res *features.ReadResult
		if res, err = r.store.Read(ctx, r.req); err == nil {
			r.res = *res
		}
	}
	if err != nil {
		return ctr.UnknownProfile, false, fmt.Errorf("read profile %s: %w", key, err)
	}
	v := r.res.Views[0]
	var x [5]int
	for f := range x {
		fv := v.Get(0, f)
		if fv.Status != features.Present {
			return ctr.UnknownProfile, false, nil
		}
		x[f] = int(fv.Value.Int())
	}
	return ctr.Profile{Geo: x[0], Device: x[1], Segments: [2]int{x[2], x[3]}, Age: x[4]}, true, nil
}
