package bidder

import (
	"context"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/adsranking/sim"
)

// A bidder whose ladder serves the cached profile at once knows a user only after
// Prefetch read the profile ahead of the request; then the request's decision is the one
// a store read would have given.
func TestPrefetchFillsTheCachedProfileStep(t *testing.T) {
	f := world(t)
	cfg := DefaultConfig()
	cfg.Ladder.CachedFeatures = 1e-12 // any elapsed time takes the cached-features step
	// A clock that ticks 1 µs a read: the step is taken whatever the machine.
	clock := &stepClock{now: sim.Day.Add(12 * time.Hour), fast: time.Microsecond}
	reqs := f.w.Requests(50, 7)
	cold := newBidder(t, f, cfg, clock.Now)
	warm := newBidder(t, f, cfg, clock.Now)
	read := newBidder(t, f, DefaultConfig(), (&stepClock{now: sim.Day.Add(12 * time.Hour)}).Now)
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = request(f.w, r).User.ID
	}
	found, err := warm.Prefetch(context.Background(), ids)
	if err != nil || found != len(ids) {
		t.Fatalf("Prefetch(%d users) = %d, %v; want all found", len(ids), found, err)
	}
	for _, r := range reqs {
		_, oc := cold.Bid(context.Background(), request(f.w, r), clock.Now())
		_, ow := warm.Bid(context.Background(), request(f.w, r), clock.Now())
		_, or := read.Bid(context.Background(), request(f.w, r), clock.Now())
		if oc.Level != CachedFeatures || ow.Level != CachedFeatures {
			t.Fatalf("levels %s, %s; want both at the cached-features step", oc.Level, ow.Level)
		}
		if oc.KnownUser || !ow.KnownUser || ow.Profile != or.Profile {
			t.Errorf("user %d: known without prefetch %v, with %v (profile %+v, store read %+v); want unknown, then the stored profile",
				r.User, oc.KnownUser, ow.KnownUser, ow.Profile, or.Profile)
		}
	}
}
