package bidder

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/adsranking/internal/ctr"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/features"
)

// countingStore counts the reads that reach the store, by either path.
type countingStore struct {
	features.OnlineStore
	reads atomic.Int64
}

var (
	_ features.OnlineStore = (*countingStore)(nil)
	_ features.ReaderInto  = (*countingStore)(nil)
)

func (s *countingStore) Read(ctx context.Context, req features.ReadRequest) (*features.ReadResult, error) {
	s.reads.Add(1)
	return s.OnlineStore.Read(ctx, req)
}

func (s *countingStore) ReadInto(ctx context.Context, req features.ReadRequest, dst *features.ReadResult) error {
	s.reads.Add(1)
	return features.ReadInto(ctx, s.OnlineStore, req, dst)
}

func newCountingBidder(t *testing.T, f fixture, cfg Config, clock func() time.Time) (*Bidder, *countingStore) {
	t.Helper()
	store := &countingStore{OnlineStore: f.mem}
	b, err := New(cfg, Deps{Inventory: f.ix, Model: f.m, Placements: f.w.Placements, Profiles: store, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return b, store
}

// With NoProfile the store is never read, the request still bids, and the model sees the
// request's geo and device with segments and age unknown.
func TestNoProfileSkipsTheStore(t *testing.T) {
	f := world(t)
	for _, c := range []struct {
		name      string
		noProfile bool
	}{{"profile read", false}, {"no profile", true}} {
		t.Run(c.name, func(t *testing.T) {
			clock := &stepClock{now: sim.Day.Add(12 * time.Hour)}
			cfg := DefaultConfig()
			cfg.NoProfile = c.noProfile
			b, store := newCountingBidder(t, f, cfg, clock.Now)
			reqs := f.w.Requests(300, 5)
			bids := 0
			for _, r := range reqs {
				u := f.w.User(r.User)
				_, out := b.Bid(context.Background(), request(f.w, r), clock.Now())
				if out.Level != Full {
					t.Fatalf("request on a frozen clock stepped down to %s", out.Level)
				}
				if out.Profile.Geo != u.Geo || out.Profile.Device != u.Device {
					t.Fatalf("profile %+v: want the request's geo %d and device %d", out.Profile, u.Geo, u.Device)
				}
				if c.noProfile && (out.KnownUser || out.Profile.Segments != ctr.UnknownProfile.Segments || out.Profile.Age != ctr.UnknownProfile.Age) {
					t.Fatalf("NoProfile: known %v, profile %+v; want segments and age unknown", out.KnownUser, out.Profile)
				}
				if out.Bid {
					bids++
				}
			}
			reads := store.reads.Load()
			if c.noProfile && reads != 0 {
				t.Errorf("NoProfile: %d store reads on %d requests, want 0", reads, len(reqs))
			}
			if !c.noProfile && reads != int64(len(reqs)) {
				t.Errorf("%d store reads on %d requests, want one each", reads, len(reqs))
			}
			if bids < 100 {
				t.Errorf("%d bids on %d requests: want most requests answered", bids, len(reqs))
			}
		})
	}
}

// A request late at the profile stage steps down to the cached profile, unless there is
// no profile read to skip: with NoProfile the cached-features step never applies (the
// cache would hand the model segments it was trained without).
func TestNoProfileNeverUsesTheCache(t *testing.T) {
	f := world(t)
	cfg := DefaultConfig()
	cfg.Ladder.FewerCandidates, cfg.Ladder.CheaperModel, cfg.Ladder.StopScoring = 1, 1, 1
	noProfile := cfg
	noProfile.NoProfile = true
	clock := &stepClock{now: sim.Day.Add(12 * time.Hour)}
	b, _ := newCountingBidder(t, f, cfg, clock.Now)
	bNo, store := newCountingBidder(t, f, noProfile, clock.Now)
	req := request(f.w, f.w.Requests(1, 6)[0])
	b.Bid(context.Background(), req, clock.Now()) // fills b's cache
	bNo.Bid(context.Background(), req, clock.Now())
	cached := false
	for slow := 0; slow <= 14; slow++ {
		clock.step, clock.fast, clock.slow = 4*time.Millisecond, time.Microsecond, slow
		if _, out := b.Bid(context.Background(), req, clock.Now()); out.Level == CachedFeatures && out.KnownUser {
			cached = true
		}
		clock.step, clock.fast, clock.slow = 4*time.Millisecond, time.Microsecond, slow
		_, out := bNo.Bid(context.Background(), req, clock.Now())
		if out.Level == CachedFeatures || out.KnownUser || out.Profile.Segments != ctr.UnknownProfile.Segments {
			t.Errorf("NoProfile, %d slow reads: level %s, known %v, profile %+v; want no cached profile", slow, out.Level, out.KnownUser, out.Profile)
		}
	}
	if !cached {
		t.Error("no clock sent the profile-reading bidder to its cache: the test proves nothing")
	}
	if n := store.reads.Load(); n != 0 {
		t.Errorf("NoProfile: %d store reads, want 0", n)
	}
}
