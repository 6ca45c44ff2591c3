package bidder

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/adsranking/internal/ctr"
	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/internal/pacing"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

type fixture struct {
	w   *sim.World
	ix  *inventory.Index
	m   *Model
	mem *memory.Store
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

// world trains a small click model once for the package's tests.
func world(t testing.TB) fixture {
	t.Helper()
	fixOnce.Do(func() {
		ctx := context.Background()
		w, err := sim.New(sim.SmallConfig())
		if err != nil {
			fixErr = err
			return
		}
		ix, err := inventory.New(w.Campaigns, w.Ads, len(w.Placements))
		if err != nil {
			fixErr = err
			return
		}
		l, err := ctr.Generate(ctx, w, ix, w.Requests(40_000, 1), ctr.DefaultLogConfig())
		if err != nil {
			fixErr = err
			return
		}
		m, _, err := ctr.Train(ctx, l, l.SplitAt(sim.Day.Add(20*time.Hour)), 3, ctr.DefaultTrainConfig())
		if err != nil {
			fixErr = err
			return
		}
		reg := features.NewRegistry()
		if fixErr = profiles.Register(reg); fixErr != nil {
			return
		}
		mem := memory.New(reg)
		if fixErr = profiles.Materialize(ctx, mem, w.Users, sim.Day, nil); fixErr != nil {
			return
		}
		fix = fixture{w: w, ix: ix, m: &Model{Version: "ads-pctr/v1", Model: m}, mem: mem}
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

// request builds the OpenRTB request of a simulated one.
func request(w *sim.World, r sim.Request) *openrtb.BidRequest { return w.BidRequest(r) }

// stepClock advances by step on each of its next slow reads and by fast on every read
// after those: a request whose first stages are slow, whatever the machine.
type stepClock struct {
	mu         sync.Mutex
	now        time.Time
	step, fast time.Duration
	slow       int
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slow > 0 {
		c.slow--
		c.now = c.now.Add(c.step)
	} else {
		c.now = c.now.Add(c.fast)
	}
	return c.now
}

func newBidder(t *testing.T, f fixture, cfg Config, clock func() time.Time) *Bidder {
	t.Helper()
	b, err := New(cfg, Deps{Inventory: f.ix, Model: f.m, Placements: f.w.Placements, Profiles: f.mem, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBidsAreValidAndPricedWithinBids(t *testing.T) {
	f := world(t)
	clock := &stepClock{now: sim.Day.Add(12 * time.Hour)}
	b := newBidder(t, f, DefaultConfig(), clock.Now)
	bids := 0
	for _, r := range f.w.Requests(300, 5) {
		req := request(f.w, r)
		resp, out := b.Bid(context.Background(), req, clock.Now())
		if err := resp.CheckAgainst(req); err != nil {
			t.Fatalf("request %s: response does not match the request: %v", req.ID, err)
		}
		if out.Level != Full {
			t.Fatalf("request %s on a frozen clock stepped down to %s", req.ID, out.Level)
		}
		if !out.Bid {
			continue
		}
		bids++
		if !slices.Equal(out.Position, f.m.Position) || out.Model != f.m.Version {
			t.Fatalf("request %s: outcome model %s, position %v; want the deciding model's %s, %v", req.ID, out.Model, out.Position, f.m.Version, f.m.Position)
		}
		snap := f.ix.Snapshot()
		for _, win := range out.Winners {
			a := snap.Ad(adPosition(snap, win.Ad))
			if win.CPC > a.CPC+1e-9 || win.CostPerImpression*1000 < b.places[out.Placement].ReserveCPM-1e-9 {
				t.Fatalf("winner %+v: price above its bid %v or below the reserve %v", win, a.CPC, b.places[out.Placement].ReserveCPM)
			}
		}
	}
	if bids < 100 {
		t.Errorf("%d bids on 300 requests: want most requests answered", bids)
	}
}

// The ladder steps down as the clock runs, and a request whose answer is ready after its
// deadline is a no-bid; the clock is simulated (each read advances it by a step), so the
// test does not depend on the machine's speed. Sweeping the step reaches every level.
func TestDegradeLadderAndDeadline(t *testing.T) {
	f := world(t)
	clock := &stepClock{now: sim.Day.Add(12 * time.Hour)}
	b := newBidder(t, f, DefaultConfig(), clock.Now)
	// The request with the most eligible ads, asked once on a frozen clock (which also
	// warms the profile cache the first step down reads).
	var best *openrtb.BidRequest
	most := 0
	for _, sr := range f.w.Requests(50, 6) {
		req := request(f.w, sr)
		if _, out := b.Bid(context.Background(), req, clock.Now()); out.Eligible > most {
			best, most = req, out.Eligible
		}
	}
	if most < 100 {
		t.Fatalf("the most eligible ads of any request is %d: the test proves nothing", most)
	}
	seen := map[Level]bool{}
	late := false
	try := func(step, fast time.Duration, slow int) {
		clock.step, clock.fast, clock.slow = step, fast, slow
		_, out := b.Bid(context.Background(), best, clock.Now())
		if out.Bid && out.Total > out.Deadline {
			t.Fatalf("step %v × %d then %v: a bid sent %v after arrival, past the %v deadline", step, slow, fast, out.Total, out.Deadline)
		}
		if out.Late {
			late = true
			if out.Bid || out.NoBid != openrtb.NoBidDeadlineExceeded {
				t.Errorf("step %v × %d: late answer with bid %v, reason %v; want a no-bid for the deadline", step, slow, out.Bid, out.NoBid)
			}
			return
		}
		seen[out.Level] = true
	}
	// The first reads slow, the rest fast: early stages run late, later ones catch up.
	for slow := 0; slow <= 14; slow++ {
		try(4*time.Millisecond, time.Microsecond, slow)
	}
	// Slow scoring: every read costs, so scoring crosses the stop line part way.
	for step := 50 * time.Microsecond; step <= 2*time.Millisecond; step += 50 * time.Microsecond {
		try(step, step, 1<<30)
	}
	for l := Full; l < levels; l++ {
		if l != FewerCandidates && !seen[l] { // tested on its own below
			t.Errorf("no clock reached level %s (seen %v)", l, seen)
		}
	}
	if !late {
		t.Error("no clock made the answer late: the deadline check is untested")
	}
	// Fewer candidates on its own: a ladder whose cheaper-model step is out of reach.
	cfg := DefaultConfig()
	cfg.Ladder.CheaperModel, cfg.Ladder.StopScoring = 1, 1
	b2 := newBidder(t, f, cfg, clock.Now)
	clock.step, clock.fast, clock.slow = 4*time.Millisecond, time.Microsecond, 6
	if _, out := b2.Bid(context.Background(), best, clock.Now()); out.Level != FewerCandidates || out.Scored > cfg.PriorCandidates {
		t.Errorf("level %s scoring %d; want fewer-candidates, at most %d", out.Level, out.Scored, cfg.PriorCandidates)
	}
}

func TestUnknownPlacementAndUserNeverFail(t *testing.T) {
	f := world(t)
	b := newBidder(t, f, DefaultConfig(), nil)
	req := request(f.w, f.w.Requests(1, 8)[0])
	req.User.ID = "somebody-new"
	if _, out := b.Bid(context.Background(), req, time.Now()); out.KnownUser {
		t.Errorf("unknown user reported as known")
	}
	req.Imp[0].TagID = "nowhere"
	resp, out := b.Bid(context.Background(), req, time.Now())
	if out.Bid || out.NoBid != openrtb.NoBidNoCandidates {
		t.Errorf("unknown placement: bid %v reason %v, want a no-bid for no candidates", out.Bid, out.NoBid)
	}
	if reason, ok := resp.Reason(); !ok || reason != openrtb.NoBidNoCandidates {
		t.Errorf("response reason %v %v, want %v", reason, ok, openrtb.NoBidNoCandidates)
	}
}

// With small budgets the ledger refuses winners; committed spend never passes a budget,
// and a request whose winners were all refused says so.
func TestBudgetsAreReservedAtDecision(t *testing.T) {
	f := world(t)
	l, err := pacing.NewLedger(pacing.DefaultLedgerConfig())
	if err != nil {
		t.Fatal(err)
	}
	snap := f.ix.Snapshot()
	seen := map[int64]bool{}
	for _, a := range snap.Ads() {
		if !seen[a.Campaign] {
			seen[a.Campaign] = true
			if err := l.SetBudget(a.Campaign, pacing.FromDollars(0.05)); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock := &stepClock{now: sim.Day.Add(12 * time.Hour)}
	b, err := New(DefaultConfig(), Deps{Inventory: f.ix, Model: f.m, Placements: f.w.Placements, Profiles: f.mem, Clock: clock.Now, Ledger: l})
	if err != nil {
		t.Fatal(err)
	}
	exhausted, bids := 0, 0
	for _, r := range f.w.Requests(2000, 11) {
		_, out := b.Bid(context.Background(), request(f.w, r), clock.Now())
		if out.Bid {
			bids++
		}
		if out.NoBid == openrtb.NoBidBudgetExhausted {
			exhausted++
		}
	}
	for c := range seen {
		acct, _ := l.Account(c)
		if acct.Committed+acct.Billed > acct.Budget {
			t.Fatalf("campaign %d: committed %v + billed %v over its budget %v", c, acct.Committed, acct.Billed, acct.Budget)
		}
	}
	if exhausted == 0 || bids == 0 {
		t.Errorf("%d bids and %d budget no-bids on 2,000 requests: want both (budgets of $0.05 run out)", bids, exhausted)
	}
}

// The ad cache is exact: the same requests win the same ads at the same prices with and
// without it.
func TestAdCacheIsExact(t *testing.T) {
	f := world(t)
	clock := &stepClock{now: sim.Day.Add(12 * time.Hour)}
	on := DefaultConfig()
	off := on
	off.AdCache = false
	bOn, bOff := newBidder(t, f, on, clock.Now), newBidder(t, f, off, clock.Now)
	bOn.ads.wait()
	if bOn.ads.cur.Load() == nil {
		t.Fatal("the ad cache was not built")
	}
	compared := 0
	for _, r := range f.w.Requests(300, 21) {
		req := request(f.w, r)
		_, a := bOn.Bid(context.Background(), req, clock.Now())
		_, b := bOff.Bid(context.Background(), req, clock.Now())
		if len(a.Winners) != len(b.Winners) {
			t.Fatalf("request %s: %d winners with the cache, %d without", req.ID, len(a.Winners), len(b.Winners))
		}
		for i := range a.Winners {
			wa, wb := a.Winners[i], b.Winners[i]
			if wa.Ad != wb.Ad || math.Abs(wa.CPC-wb.CPC) > 1e-12 || math.Abs(wa.PCTR-wb.PCTR) > 1e-12 {
				t.Fatalf("request %s slot %d: %+v with the cache, %+v without", req.ID, i, wa, wb)
			}
			compared++
		}
	}
	if compared == 0 {
		t.Fatal("no winners compared")
	}
}
