package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/adsranking/events"
	"github.com/casebook-ml/casebook/adsranking/internal/bidder"
	"github.com/casebook-ml/casebook/adsranking/internal/ctr"
	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/internal/pacing"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	fredis "github.com/casebook-ml/casebook/platform/features/redis"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
)

// waitLimit bounds every wait for the system to catch up with the log. It is a deadline
// for a diagnostic, not a latency requirement: the tests check what happens, not how fast.
const waitLimit = 60 * time.Second

// stack is a running system on the package's containers: the event log on NATS
// JetStream, user profiles in Redis, the model registry in a temporary directory.
type stack struct {
	sys      *System
	log      *eventlog.Log
	store    *fredis.Store
	instance string
	// failing: the test breaks the system on purpose, so Wait's error is expected.
	failing bool
}

// testConfig is the default system on the small world, with a click model trained on
// 50,000 requests (20,000 are too few for ctr.Train to measure the position effect of
// the third slot). The tests check the system's bookkeeping, not the model's quality, so
// the registry floor is loose. Budgets are scaled up so that no campaign stops winning
// because it spent its budget rather than because it was paused.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.World = sim.SmallConfig()
	cfg.TrainRequests = 50_000
	cfg.FloorRatio = 2
	cfg.ControlInterval = 50 * time.Millisecond
	cfg.BudgetScale = 1000
	return cfg
}

// startStack starts a system on the containers; it stops when the test ends.
func startStack(t *testing.T, cfg Config) *stack {
	t.Helper()
	natsURL, redisAddr := env.NATSURL(t), env.RedisAddr(t)
	ctx := t.Context()
	lc := eventlog.DefaultConfig()
	lc.URL, lc.Name = natsURL, "adsranking-live-test"
	log, err := eventlog.Open(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	// The stream's name is fixed, and a system reads it from the start (campaign changes
	// into its inventory, impressions against its ledger): every test starts on an empty
	// one, so no test sees another's events. The tests of this package do not run in
	// parallel.
	if err := log.DeleteStream(ctx, events.Stream); err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		t.Fatal(err)
	}

	rc := regfs.DefaultConfig()
	rc.Dir, rc.PollInterval = t.TempDir(), 20*time.Millisecond
	rst, err := regfs.Open(rc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(rst, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}

	freg := features.NewRegistry()
	if err := profiles.Register(freg); err != nil {
		t.Fatal(err)
	}
	sc := fredis.DefaultConfig()
	// A key prefix per test: the Redis container is shared by the package. The generous
	// timeout keeps a slow machine from turning profile reads into the degraded path,
	// which the profile test would read as a failure.
	sc.Addr, sc.Prefix, sc.Timeout = redisAddr, fmt.Sprintf("ads-live-test:%s:", t.Name()), 5*time.Second
	store, err := fredis.New(sc, freg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })

	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	// t.Context ends before the cleanups run, which stops the system; Wait then lets its
	// goroutines finish before the store and the log close.
	sys, err := Start(ctx, cfg, Deps{Log: log, Registry: reg, Store: store, Logger: logger})
	if err != nil {
		t.Fatalf("Start = %v", err)
	}
	st := &stack{sys: sys, log: log, store: store, instance: cfg.Instance}
	t.Cleanup(func() {
		if err := sys.Wait(); err != nil && !st.failing {
			t.Errorf("the system stopped with %v", err)
		}
	})
	return st
}

// waitFor polls cond until it holds, failing the test with diag's account when it still
// does not after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not after %v; %s", what, waitLimit, diag())
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitCaught waits until the system's consumer durable (a prefix such as "ads-billing-")
// has acked every event stored on the stream, so its counters are final.
func (s *stack) waitCaught(t *testing.T, durable string) {
	t.Helper()
	name := durable + s.instance
	var last eventlog.ConsumerState
	var lastErr error
	waitFor(t, "consumer "+name+" caught up", func() bool {
		last, lastErr = s.log.ConsumerState(t.Context(), events.Stream, name)
		return lastErr == nil && last.Caught()
	}, func() string { return fmt.Sprintf("state %+v, err %v, stats %+v", last, lastErr, s.sys.Stats()) })
}

// winners bids on every request and counts the winning slots per campaign.
func winners(t *testing.T, sys *System, reqs []sim.Request) map[int64]int {
	t.Helper()
	wins := map[int64]int{}
	for _, sr := range reqs {
		_, out := sys.Bid(t.Context(), sys.World.BidRequest(sr), time.Now())
		for _, w := range out.Winners {
			wins[w.Campaign]++
		}
	}
	return wins
}

// A campaign paused through the event log stops winning on the running system, without a
// restart: the change is applied to the inventory and the ledger, and not one of
// thousands of later auctions has the campaign among its winners. A budget change
// published beside it lands in the ledger.
func TestPauseFromLogStopsWins(t *testing.T) {
	s := startStack(t, testConfig())
	ctx, sys := t.Context(), s.sys
	if got := sys.Stats().ChangesApplied; got != 0 {
		t.Fatalf("ChangesApplied = %d on an empty stream, want 0", got)
	}
	reqs := sys.World.Requests(3000, 17)

	// The victim is the campaign that wins most often, so that its absence later means
	// something.
	before := winners(t, sys, reqs)
	if len(before) == 0 {
		t.Fatalf("no winner in %d auctions before the pause", len(reqs))
	}
	ids := slices.Sorted(maps.Keys(before))
	victim := slices.MaxFunc(ids, func(a, b int64) int { return before[a] - before[b] })
	raised := sys.World.Campaigns[0].ID
	if raised == victim {
		raised = sys.World.Campaigns[1].ID
	}
	const newBudget = 5000.0
	if err := PublishChange(ctx, s.log, fmt.Sprintf("pause-%d", victim), inventory.Change{Kind: inventory.Pause, ID: victim}); err != nil {
		t.Fatal(err)
	}
	if err := PublishChange(ctx, s.log, fmt.Sprintf("budget-%d", raised), inventory.Change{Kind: inventory.Budget, ID: raised, Budget: newBudget}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both changes applied", func() bool { return sys.Stats().ChangesApplied >= 2 },
		func() string { return fmt.Sprintf("stats %+v", sys.Stats()) })
	s.waitCaught(t, "ads-campaigns-")
	if got := sys.Stats().ChangesApplied; got != 2 {
		t.Errorf("ChangesApplied = %d after two changes, want 2", got)
	}
	if a, ok := sys.Ledger.Account(victim); !ok || !a.Paused {
		t.Errorf("Ledger.Account(%d) = %+v, %v; want a paused account", victim, a, ok)
	}
	if a, ok := sys.Ledger.Account(raised); !ok || a.Budget != pacing.FromDollars(newBudget) {
		t.Errorf("Ledger.Account(%d).Budget = %v, want %v", raised, a.Budget, pacing.FromDollars(newBudget))
	}

	after := winners(t, sys, reqs)
	if after[victim] != 0 {
		t.Errorf("paused campaign %d won %d slots in %d auctions after the pause (%d before), want 0", victim, after[victim], len(reqs), before[victim])
	}
	total := 0
	for _, n := range after {
		total += n
	}
	if total == 0 {
		t.Errorf("no winner at all in %d auctions after the pause: the check above proves nothing", len(reqs))
	}
	t.Logf("campaign %d: %d wins before the pause, %d after; %d slots won by others after", victim, before[victim], after[victim], total)
}

// reports are the log events of a delivery, as the exchange publishes them: sending them
// again is a retried report (same ids).
func reports(t *testing.T, d Delivery) []eventlog.Event {
	t.Helper()
	var evs []eventlog.Event
	for _, i := range d.Impressions {
		data, err := json.Marshal(i)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, eventlog.Event{ID: i.ID(), Subject: events.SubjectImpress, Time: i.Time, Data: data})
	}
	for _, c := range d.Clicks {
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, eventlog.Event{ID: c.ID(), Subject: events.SubjectClick, Time: c.Time, Data: data})
	}
	return evs
}

// Every impression the exchange reports is billed exactly once, against the reservation
// the bidder made when it won, though every report (impressions and clicks) reaches the
// log twice; the ledger's billed spend is the impressions' cost to the micro-dollar; and
// the calibration monitor observes every impression and click once.
func TestReportsBilledOnceAndObserved(t *testing.T) {
	s := startStack(t, testConfig())
	ctx, sys := t.Context(), s.sys
	x := NewExchange(sys.World, s.log, 0.95, 3)
	reqs := sys.World.Requests(2000, 29)

	var again []eventlog.Event
	var imps, clicks int
	var cost pacing.Micros
	bid := map[string]int{} // request id → winners, of the requests bid on
	for _, sr := range reqs {
		now := time.Now()
		_, out := sys.Bid(ctx, sys.World.BidRequest(sr), now)
		if out.Bid {
			bid[sr.IDString()] = len(out.Winners)
		}
		d, err := x.Deliver(ctx, sr, out, sys.Bidder.Model().Position, now)
		if err != nil {
			t.Fatalf("Deliver(%s) = %v", sr.IDString(), err)
		}
		imps += len(d.Impressions)
		clicks += len(d.Clicks)
		for _, i := range d.Impressions {
			cost += pacing.FromDollars(i.Cost)
		}
		again = append(again, reports(t, d)...)
	}
	if imps == 0 || clicks == 0 {
		t.Fatalf("%d requests gave %d impressions and %d clicks; want some of each", len(reqs), imps, clicks)
	}
	acks, err := s.log.PublishBatch(ctx, again)
	if err != nil {
		t.Fatalf("publishing the reports again: %v", err)
	}
	stored := 0
	for _, a := range acks {
		if !a.Duplicate {
			stored++
		}
	}
	if stored != 0 {
		t.Errorf("%d of %d repeated reports stored as new events, want 0 (the log deduplicates by id)", stored, len(acks))
	}

	waitFor(t, "every impression billed", func() bool { st := sys.Stats(); return st.Billed+st.Unbillable >= int64(imps) },
		func() string { return fmt.Sprintf("%d impressions reported; stats %+v", imps, sys.Stats()) })
	waitFor(t, "every impression and click observed", func() bool { return sys.Stats().Observed >= int64(imps+clicks) },
		func() string {
			return fmt.Sprintf("%d impressions and %d clicks reported; stats %+v", imps, clicks, sys.Stats())
		})
	s.waitCaught(t, "ads-billing-")
	s.waitCaught(t, "ads-monitor-")

	st := sys.Stats()
	if st.Billed != int64(imps) || st.Unbillable != 0 {
		t.Errorf("Billed, Unbillable = %d, %d after %d impressions each reported twice; want %d, 0", st.Billed, st.Unbillable, imps, imps)
	}
	var billed pacing.Micros
	var confirmed, dups int64
	for _, c := range sys.World.Campaigns {
		if a, ok := sys.Ledger.Account(c.ID); ok {
			billed += a.Billed
			confirmed += a.Confirmed
			dups += a.Duplicates
		}
	}
	if billed != cost || confirmed != int64(imps) || dups != 0 {
		t.Errorf("ledger: billed %v in %d confirmed reports, %d duplicates; want %v (the impressions' cost) in %d, 0", billed, confirmed, dups, cost, imps)
	}
	if st.Observed != int64(imps+clicks) {
		t.Errorf("Observed = %d, want %d (%d impressions + %d clicks)", st.Observed, imps+clicks, imps, clicks)
	}
	for _, row := range sys.Monitor.Report().Rows {
		if row.DuplicateImpressions != 0 || row.Clicks.Duplicate != 0 {
			t.Errorf("monitor, %s: %d duplicate impressions and %d duplicate clicks, want 0 (the log drops repeated reports)", row.Model, row.DuplicateImpressions, row.Clicks.Duplicate)
		}
	}

	// Every auction bid on is on the log once, in batches of several auctions per event.
	waitFor(t, "every auction logged", func() bool { return sys.Stats().AuctionsLogged >= int64(len(bid)) },
		func() string { return fmt.Sprintf("%d auctions bid on; stats %+v", len(bid), sys.Stats()) })
	logged := map[string]int{}
	batches := 0
	if _, err := s.log.Replay(ctx, events.Stream, eventlog.FromBeginning(), []string{events.SubjectAuction}, func(_ context.Context, m *eventlog.Message) error {
		as, err := events.DecodeAuctions(m.Data)
		if err != nil {
			return err
		}
		batches++
		for _, a := range as {
			if _, dup := logged[a.Request]; dup {
				t.Errorf("auction %s logged twice", a.Request)
			}
			logged[a.Request] = len(a.Winners)
		}
		return nil
	}); err != nil {
		t.Fatalf("Replay(%s) = %v", events.SubjectAuction, err)
	}
	if !maps.Equal(logged, bid) {
		t.Errorf("auctions on the log: %d requests, want the %d bid on with their winners", len(logged), len(bid))
	}
	t.Logf("%d requests: %d impressions ($%.2f), %d clicks, each reported twice; %d auctions logged in %d events; stats %+v", len(reqs), imps, cost.Dollars(), clicks, len(logged), batches, st)
}

// The bidder reads user profiles from Redis, per request: Start materializes every user's
// profile there; a profile rewritten through the same write path is the one the next bid
// for that user is made with (its segments and age: the request's own geo and device
// override the profile's), and a user Redis has no profile for bids as unknown.
func TestProfilesFromRedis(t *testing.T) {
	s := startStack(t, testConfig())
	ctx, sys := t.Context(), s.sys

	// Start's materialization is in Redis, under the store's keys.
	rd := profiles.NewReader(s.store)
	for i := 0; i < len(sys.World.Users); i += 97 {
		u := &sys.World.Users[i]
		key := profiles.Key(u.ID)
		p, ok, err := rd.Get(ctx, key, time.Now())
		if err != nil || !ok || p != ctr.ProfileOf(u) {
			t.Fatalf("profile of %s from Redis = %+v, %v, %v; want %+v, true, nil", key, p, ok, err, ctr.ProfileOf(u))
		}
		if n, err := s.store.Client().Exists(ctx, s.store.Key(profiles.View, key)).Result(); err != nil || n != 1 {
			t.Fatalf("EXISTS %s = %d, %v; want 1", s.store.Key(profiles.View, key), n, err)
		}
	}

	sr := sys.World.Requests(1, 41)[0]
	u := *sys.World.User(sr.User)
	key := profiles.Key(u.ID)
	// A deadline no machine misses, so the profile is read from the store and not taken
	// from the bidder's cache on the degrade ladder.
	bid := func(user string) bidder.Outcome {
		req := sys.World.BidRequest(sr)
		req.Tmax = 10_000
		req.User.ID = user
		_, out := sys.Bid(ctx, req, time.Now())
		if out.Level != bidder.Full {
			t.Fatalf("bid for %s stepped down to %s, want %s", user, out.Level, bidder.Full)
		}
		return out
	}
	if out := bid(key); !out.KnownUser || out.Profile.Segments != u.Segments || out.Profile.Age != u.Age {
		t.Errorf("bid for %s: known %v, profile %+v; want the materialized %+v", key, out.KnownUser, out.Profile, ctr.ProfileOf(&u))
	}

	for k := range 2 {
		// Other interests and another age bucket each time, written as Start writes.
		u.Segments = [2]int{(u.Segments[0] + 1) % sim.NumSegments, (u.Segments[1] + 1) % sim.NumSegments}
		u.Age = (u.Age + 1) % sim.NumAges
		if err := profiles.Materialize(ctx, s.store, []sim.User{u}, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		want := ctr.ProfileOf(&u)
		if p, ok, err := rd.Get(ctx, key, time.Now()); err != nil || !ok || p != want {
			t.Fatalf("rewrite %d: profile of %s from Redis = %+v, %v, %v; want %+v, true, nil", k, key, p, ok, err, want)
		}
		out := bid(key)
		if !out.KnownUser || out.Profile.Segments != want.Segments || out.Profile.Age != want.Age {
			t.Errorf("rewrite %d: bid for %s: known %v, profile %+v; want segments %v and age %d from Redis", k, key, out.KnownUser, out.Profile, want.Segments, want.Age)
		}
	}

	const stranger = "u-not-in-redis"
	if out := bid(stranger); out.KnownUser || out.Profile.Segments != ctr.UnknownProfile.Segments || out.Profile.Age != ctr.UnknownProfile.Age {
		t.Errorf("bid for %s: known %v, profile %+v; want unknown", stranger, out.KnownUser, out.Profile)
	}

	// And the system bids on Redis-backed profiles.
	bids := 0
	for _, r := range sys.World.Requests(500, 43) {
		if _, out := sys.Bid(ctx, sys.World.BidRequest(r), time.Now()); out.Bid && out.KnownUser {
			bids++
		}
	}
	if bids == 0 {
		t.Errorf("no bid for a known user in 500 requests")
	}
}

// TestConsumerFailureStopsSystem: a consumer that fails (here: its event log closed under
// it) stops the whole system, and Wait returns the failure instead of the bidder running
// on without billing.
func TestConsumerFailureStopsSystem(t *testing.T) {
	st := startStack(t, testConfig())
	st.failing = true
	if err := st.log.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- st.sys.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "consumer") {
			t.Fatalf("Wait after the log closed = %v, want a consumer's error", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the system runs on after its event log closed")
	}
}
