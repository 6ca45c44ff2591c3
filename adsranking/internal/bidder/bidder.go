// Package bidder is the ad auction's request path: an OpenRTB bid request in, an answer
// out before its deadline. Stages: the user's profile (feature store), eligible candidates
// (inventory), pacing, pCTR for every candidate (the registry's click model), the auction,
// the budget reservation, the response. The deadline comes from tmax and is checked
// between and inside stages; a late request steps down a degrade ladder (cached profile,
// fewer candidates, prior click rates, an auction on what was scored) and a request that
// still misses its deadline gets a no-bid, never a late bid.
package bidder

import (
	"context"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/adsranking/internal/auction"
	"github.com/casebook-ml/casebook/adsranking/internal/ctr"
	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/internal/pacing"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
)

// Model is a click model as the bidder serves it: the registry version it came from and
// the model (FM, position effect per slot, calibration).
type Model struct {
	Version string
	*ctr.Model
}

// Placement is the publisher's side of a placement: its content category, slots and
// reserve. The bidder knows its placements (by tag id) from the publisher's setup.
type Placement struct {
	Category, Slots int
	ReserveCPM      float64
}

// Bidder answers bid requests. It is safe for concurrent use.
type Bidder struct {
	cfg        Config
	inv        *inventory.Index
	model      atomic.Pointer[Model]
	placements map[string]int
	places     []Placement
	store      features.OnlineStore
	tok        *pii.Tokenizer
	pacer      pacing.Pacer
	ledger     *pacing.Ledger
	clock      func() time.Time
	metrics    *Metrics
	cache      profileCache
	ads        adCache
	pool       sync.Pool
}

// Deps are what a bidder runs on. Pacer may be nil (pacing.None); Ledger may be nil (no
// budget check: only for measuring the rest of the path); Clock defaults to time.Now;
// Metrics may be nil.
type Deps struct {
	Inventory  *inventory.Index
	Model      *Model
	Placements []sim.Placement
	Profiles   features.OnlineStore
	Pacer      pacing.Pacer
	Ledger     *pacing.Ledger
	Clock      func() time.Time
	Metrics    *Metrics
	// Tokenizer, when set, replaces the request's user.id by its keyed-hash token
	// (profiles.TokenKey) before the profile is looked up or cached: the store and the
	// cache hold tokens only, as profiles.Materialize wrote them under the same key. Nil
	// uses the raw id (tests, scenarios on simulated users in one process).
	Tokenizer *pii.Tokenizer
}

// New builds a bidder.
func New(cfg Config, d Deps) (*Bidder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Inventory == nil || d.Model == nil || d.Model.Model == nil || d.Profiles == nil || len(d.Placements) == 0 {
		return nil, fmt.Errorf("%w: a bidder needs an inventory, a model, a profile store and placements", ErrConfig)
	}
	b := &Bidder{cfg: cfg, inv: d.Inventory, placements: map[string]int{}, store: d.Profiles, pacer: d.Pacer, ledger: d.Ledger, clock: d.Clock, metrics: d.Metrics, tok: d.Tokenizer}
	if b.clock == nil {
		b.clock = time.Now
	}
	if b.pacer == nil {
		b.pacer = pacing.None{}
	}
	for i, p := range d.Placements {
		b.placements[p.TagID] = i
		b.places = append(b.places, Placement{Category: p.Category, Slots: p.Slots, ReserveCPM: p.ReserveCPM})
	}
	if err := b.SetModel(d.Model); err != nil {
		return nil, err
	}
	b.cache.seed = maphash.MakeSeed()
	return b, nil
}

// SetModel swaps the click model (a registry follower calls it when the champion moves).
func (b *Bidder) SetModel(m *Model) error {
	if m == nil || m.Model == nil || m.FM == nil || len(m.Position) == 0 || m.Position[0] != 1 {
		return fmt.Errorf("%w: a model needs an FM and positions starting at 1", ErrConfig)
	}
	if got := m.FM.Schema().Hash(); got != ctr.Schema.Hash() {
		return fmt.Errorf("%w: model %s reads another schema", ErrConfig, m.Version)
	}
	b.model.Store(m)
	if b.cfg.AdCache {
		b.ads.lookup(m.FM, b.inv.Snapshot()) // start the ad cache's rebuild now
	}
	return nil
}

// Warm builds the ad cache for the current model and inventory now, rather than in the
// background on first use.
func (b *Bidder) Warm() {
	if b.cfg.AdCache {
		b.ads.lookup(b.model.Load().FM, b.inv.Snapshot())
		b.ads.wait()
	}
}

// Model returns the model being served.
func (b *Bidder) Model() *Model { return b.model.Load() }

// Winner is one slot the bidder bid on.
type Winner struct {
	Slot                   int
	Ad, Campaign           int64
	PCTR                   float64 // click probability in the top slot (position removed)
	CPC, CostPerImpression float64
	Value                  float64 // the user-value term
	// Reserved is the budget reservation for the impression: settled with Ledger.Confirm
	// when the exchange reports the impression, released or expired otherwise.
	Reserved pacing.Reservation
}

// Outcome is what happened to one request, for logs, metrics and in-process callers.
type Outcome struct {
	NoBid    openrtb.NoBidReason
	Bid      bool
	Level    Level
	Eligible int // before the candidate cut
	Scored   int
	Paced    int // candidates pacing held back
	Budget   int // winners dropped because their budget could not take the cost
	Winners  []Winner
	Model    string
	// Position is the deciding model's effect of each slot (Winner.PCTR × Position[slot]
	// is the click probability the bid was priced on), kept with the outcome because the
	// live model may be swapped before the outcome is logged.
	Position   []float64
	Hour       int
	Placement  int
	Profile    ctr.Profile
	KnownUser  bool
	Stages     [numStages]time.Duration
	Total      time.Duration
	Late       bool // the answer was ready after the deadline (and was a no-bid)
	Deadline   time.Duration
	RequestKey string
}

// Stages timed per request.
const (
	StageFeatures = iota
	StageCandidates
	StageScoring
	StageAuction
	numStages
)

// StageNames name the stages in metrics and Server-Timing.
var StageNames = [numStages]string{"features", "candidates", "scoring", "auction"}

type work struct {
	sc     inventory.Scratch
	cands  []int32
	bids   []auction.Bid
	wins   []auction.Win
	row    []float64
	scorer *ml.FMScorer
	fm     *ml.FM
	reader *profiles.Reader
	sizes  []openrtb.Format
	fmts   []int
	segs   [2]int
}

func (b *Bidder) work() *work {
	if w, ok := b.pool.Get().(*work); ok {
		return w
	}
	return &work{reader: profiles.NewReader(b.store)}
}

// Bid answers one validated request that arrived at arrived. The response is a bid on
// some of the request's impressions (its slots, top first) or a no-bid with a reason.
func (b *Bidder) Bid(ctx context.Context, req *openrtb.BidRequest, arrived time.Time) (openrtb.BidResponse, Outcome) {
	out := Outcome{Level: Full, RequestKey: req.ID}
	budget := req.Timeout(b.cfg.DefaultTMax) - b.cfg.Margin
	if budget <= 0 {
		out.NoBid = openrtb.NoBidDeadlineExceeded
		return b.finish(req, &out, arrived, nil)
	}
	out.Deadline = budget
	// The context's deadline is on the real clock (what the store's I/O honours), the
	// ladder's on the bidder's clock, which a simulation may drive.
	ctx, cancel := context.WithTimeout(ctx, budget-b.clock().Sub(arrived))
	defer cancel()
	used := func() float64 { return float64(b.clock().Sub(arrived)) / float64(budget) }
	w := b.work()
	defer b.pool.Put(w)
	m := b.model.Load()
	out.Model, out.Position = m.Version, m.Model.Position

	// Where: the placement (all impressions are its slots, top first), its floor.
	pi, ok := b.placements[req.Imp[0].TagID]
	if !ok {
		out.NoBid = openrtb.NoBidNoCandidates
		return b.finish(req, &out, arrived, nil)
	}
	out.Placement = pi
	place := b.places[pi]
	slots := min(len(req.Imp), place.Slots, len(m.Position))
	now := b.clock()
	out.Hour = now.UTC().Hour()

	// Who: the profile, from the feature store or, late, from the cache; with NoProfile
	// neither (the model was trained without segments and age).
	t0 := b.clock()
	key := ""
	if req.User != nil && !b.cfg.NoProfile {
		key = req.User.ID
	}
	if key != "" && b.tok != nil {
		key = b.tok.Token(profiles.UserField, key)
	}
	prof := ctr.UnknownProfile
	if key != "" {
		if used() > b.cfg.Ladder.CachedFeatures {
			out.Level = CachedFeatures
			prof, out.KnownUser = b.cache.get(key)
		} else {
			p, found, err := w.reader.Get(ctx, key, now)
			if err == nil && found {
				prof, out.KnownUser = p, true
				b.cache.put(key, p)
			} else if err != nil {
				// A failed read degrades to the cache rather than failing the request.
				out.Level = CachedFeatures
				prof, out.KnownUser = b.cache.get(key)
			}
		}
	}
	// The request's own geo and device win over the profile's: they describe this visit.
	if req.Device != nil {
		if req.Device.Geo != nil && req.Device.Geo.Country != "" {
			prof.Geo = indexOf(sim.Geos, req.Device.Geo.Country)
		}
		if req.Device.DeviceType != 0 {
			prof.Device = indexOfInt(sim.Devices, req.Device.DeviceType)
		}
	}
	out.Profile = prof
	out.Stages[StageFeatures] = b.clock().Sub(t0)

	// What: eligible candidates.
	t0 = b.clock()
	limit := b.cfg.Candidates
	if used() > b.cfg.Ladder.FewerCandidates {
		out.Level = max(out.Level, FewerCandidates)
		limit = min(limit, b.cfg.PriorCandidates)
	}
	w.sizes = req.Imp[0].AppendSizes(w.sizes[:0])
	w.fmts = w.fmts[:0]
	for _, f := range w.sizes {
		if i := sim.FormatIndex(f.W, f.H); i >= 0 {
			w.fmts = append(w.fmts, i)
		}
	}
	w.segs = prof.Segments
	q := inventory.Query{Geo: prof.Geo, Device: prof.Device, Placement: pi, Hour: out.Hour, Segments: w.segs[:], Formats: w.fmts}
	snap := b.inv.Snapshot()
	w.cands, out.Eligible = snap.Candidates(q, limit, &w.sc, w.cands[:0])
	out.Stages[StageCandidates] = b.clock().Sub(t0)
	if len(w.cands) == 0 {
		out.NoBid = openrtb.NoBidNoCandidates
		return b.finish(req, &out, arrived, nil)
	}

	// How likely: pCTR per candidate that pacing lets through.
	t0 = b.clock()
	cheap := b.cfg.PriorOnly || used() > b.cfg.Ladder.CheaperModel
	if cheap {
		out.Level = max(out.Level, CheaperModel)
	} else {
		if w.fm != m.FM {
			w.scorer, w.fm = m.FM.Scorer(), m.FM
		}
		w.row = ctr.ContextRow(prof, pi, out.Hour, place.Category, w.row[:0])
		if err := w.scorer.SetContext(w.row); err != nil {
			out.NoBid = openrtb.NoBidTechnicalError
			return b.finish(req, &out, arrived, nil)
		}
	}
	reqNum := requestNumber(req.ID)
	var parts *adParts
	if !cheap && b.cfg.AdCache {
		parts = b.ads.lookup(m.FM, snap)
	}
	w.bids = w.bids[:0]
	if parts.dense(m.FM, snap) {
		// The common case: every candidate's terms and record come from the ad cache.
		if b.scoreDense(w, &out, parts, m, reqNum, now, used) {
			out.Level = max(out.Level, PartialScoring)
		}
	} else {
		b.scoreSnapshot(w, &out, snap, parts, m, cheap, reqNum, now, used)
	}
	out.Stages[StageScoring] = b.clock().Sub(t0)

	// Who wins, at what price; then commit the spend.
	t0 = b.clock()
	ac := b.cfg.Auction
	ac.Slots = m.Position[:slots]
	ac.ReserveCPM = max(place.ReserveCPM, req.Imp[0].BidFloor)
	if req.AuctionType() == openrtb.AuctionFirstPrice {
		ac.Mechanism = auction.FirstPrice
	}
	w.wins = auction.Run(ac, w.bids, w.wins[:0])
	for _, win := range w.wins {
		bid := w.bids[win.Index]
		a := snap.Ad(int32(bid.Ad))
		var res pacing.Reservation
		if b.ledger != nil {
			// Spend is counted now, at decision time, for the most the impression can
			// bill; the impression report settles it. A refusal (budget gone, paused)
			// drops the slot rather than the request.
			var err error
			if res, err = b.ledger.Reserve(a.Campaign, reqNum, pacing.CeilMicros(win.CostPerImpression), now); err != nil {
				out.Budget++
				continue
			}
		}
		out.Winners = append(out.Winners, Winner{Slot: win.Slot, Ad: a.ID, Campaign: a.Campaign, PCTR: bid.PCTR, CPC: win.CPC,
			CostPerImpression: win.CostPerImpression, Value: bid.Value, Reserved: res})
	}
	out.Stages[StageAuction] = b.clock().Sub(t0)
	switch {
	case len(out.Winners) > 0:
		out.Bid = true
	case out.Budget > 0:
		out.NoBid = openrtb.NoBidBudgetExhausted
	case len(w.bids) == 0 && out.Paced > 0:
		out.NoBid = openrtb.NoBidPacedOut
	default:
		out.NoBid = openrtb.NoBidBelowFloor
	}
	return b.finish(req, &out, arrived, snap)
}

// scoreDense scores w.cands into w.bids from the ad cache alone (its dense ad records and
// model terms, built for this snapshot): the same arithmetic as scoreSnapshot, on a third
// of the memory. It reports whether it stopped early for the deadline.
func (b *Bidder) scoreDense(w *work, out *Outcome, parts *adParts, m *Model, reqNum uint64, now time.Time, used func() float64) (stopped bool) {
	width, cal := parts.width, m.Calibration
	for i, ci := range w.cands {
		if i&15 == 15 && used() > b.cfg.Ladder.StopScoring {
			return true
		}
		rec := &parts.ads[ci]
		bids, mult := b.pacer.Decide(rec.campaign, reqNum, now)
		if !bids {
			out.Paced++
			continue
		}
		at := int(ci) * width
		p := cal.Prob(w.scorer.LogitPartial(parts.parts[at : at+width]))
		out.Scored++
		// Bid.Ad carries the candidate's position in the snapshot, not its id.
		w.bids = append(w.bids, auction.Bid{Ad: int64(ci), Campaign: rec.campaign, CPC: rec.cpc * mult, PCTR: p, Value: p * rec.quality})
	}
	return false
}

// scoreSnapshot scores w.cands into w.bids reading the snapshot's ad records: with the
// prior click rates (cheap), the ad cache's terms where it has them (a cache of an older
// snapshot still covers the ads it knew), or the full model.
func (b *Bidder) scoreSnapshot(w *work, out *Outcome, snap *inventory.Snapshot, parts *adParts, m *Model, cheap bool, reqNum uint64, now time.Time, used func() float64) {
	for i, ci := range w.cands {
		if i&15 == 15 && used() > b.cfg.Ladder.StopScoring {
			out.Level = max(out.Level, PartialScoring)
			return
		}
		a := snap.Ad(ci)
		bids, mult := b.pacer.Decide(a.Campaign, reqNum, now)
		if !bids {
			out.Paced++
			continue
		}
		var p float64
		if cheap {
			p = snap.Prior(ci)
		} else if part, ok := parts.get(m.FM, ci); ok {
			p = m.Calibration.Prob(w.scorer.LogitPartial(part))
		} else {
			w.row = ctr.AdRow(a, w.row[:0])
			p = m.Calibration.Prob(w.scorer.Logit(w.row))
		}
		out.Scored++
		// Bid.Ad carries the candidate's position in the snapshot, not its id.
		w.bids = append(w.bids, auction.Bid{Ad: int64(ci), Campaign: a.Campaign, CPC: a.CPC * mult, PCTR: p, Value: p * a.Quality})
	}
}

// finish builds the response; a bid ready after the deadline becomes a no-bid.
func (b *Bidder) finish(req *openrtb.BidRequest, out *Outcome, arrived time.Time, snap *inventory.Snapshot) (openrtb.BidResponse, Outcome) {
	out.Total = b.clock().Sub(arrived)
	if out.Bid && out.Deadline > 0 && out.Total > out.Deadline {
		// Too late: these winners will never be shown; give their budget back.
		if b.ledger != nil {
			for _, w := range out.Winners {
				_ = b.ledger.Release(w.Reserved)
			}
		}
		out.Bid, out.Late, out.NoBid, out.Winners = false, true, openrtb.NoBidDeadlineExceeded, nil
	}
	b.metrics.observe(out)
	if !out.Bid {
		return openrtb.NoBid(req.ID, out.NoBid), *out
	}
	resp := openrtb.BidResponse{ID: req.ID, Cur: "USD"}
	// The extensions are written by hand (what encoding/json writes for {"model",
	// "degrade"} and {"pctr", "slot"}), into one buffer for the response.
	ext := make([]byte, 0, 64+48*len(out.Winners))
	ext = append(ext, `{"model":`...)
	ext = openrtb.AppendJSONString(ext, out.Model)
	ext = append(ext, `,"degrade":`...)
	ext = openrtb.AppendJSONString(ext, out.Level.String())
	ext = append(ext, '}')
	resp.Ext = ext[:len(ext):len(ext)]
	for _, win := range out.Winners {
		a := snap.Ad(adPosition(snap, win.Ad))
		f := sim.Formats[a.Format]
		bid := openrtb.Bid{ID: req.ID + "-" + strconv.Itoa(win.Slot), ImpID: req.Imp[win.Slot].ID, Price: win.CostPerImpression * 1000,
			AdID: "ad-" + strconv.FormatInt(win.Ad, 10), CrID: "cr-" + strconv.FormatInt(win.Ad, 10), CID: "c-" + strconv.FormatInt(win.Campaign, 10),
			W: f.W, H: f.H}
		at := len(ext)
		ext = append(ext, `{"pctr":`...)
		ext = openrtb.AppendJSONFloat(ext, win.PCTR)
		ext = append(ext, `,"slot":`...)
		ext = strconv.AppendInt(ext, int64(win.Slot), 10)
		ext = append(ext, '}')
		bid.Ext = ext[at:len(ext):len(ext)]
		seat := "adv-" + strconv.FormatInt(a.Advertiser, 10)
		if n := len(resp.SeatBid); n > 0 && resp.SeatBid[n-1].Seat == seat {
			resp.SeatBid[n-1].Bid = append(resp.SeatBid[n-1].Bid, bid)
		} else {
			resp.SeatBid = append(resp.SeatBid, openrtb.SeatBid{Seat: seat, Bid: []openrtb.Bid{bid}})
		}
	}
	return resp, *out
}

// adPosition finds an ad's position: ids are positions + 1 for generated inventories, and
// changes only append, so the direct guess almost always holds.
func adPosition(s *inventory.Snapshot, id int64) int32 {
	if i := int32(id - 1); int(i) < len(s.Ads()) && i >= 0 && s.Ad(i).ID == id {
		return i
	}
	for i, a := range s.Ads() {
		if a.ID == id {
			return int32(i)
		}
	}
	return 0
}

// requestNumber is a stable number for a request id (pacing's coin flips hash it, so a
// replayed request gets the same answer): the number in "r123", else a hash of the id.
func requestNumber(id string) uint64 {
	if n, err := strconv.ParseUint(strings.TrimPrefix(id, "r"), 10, 64); err == nil {
		return n
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

func indexOf(xs []string, v string) int {
	for i, x := range xs {
		if x == v {
			return i
		}
	}
	return -1
}

func indexOfInt(xs []int, v int) int {
	for i, x := range xs {
		if x == v {
			return i
		}
	}
	return -1
}

// profileCache keeps the last profile read per user, direct-mapped (a newer user evicts
// an older one in the same slot): the "cached features" step of the ladder.
type profileCache struct {
	seed  maphash.Seed
	slots [1 << 14]atomic.Pointer[cachedProfile]
}

type cachedProfile struct {
	key string
	p   ctr.Profile
}

func (c *profileCache) slot(key string) *atomic.Pointer[cachedProfile] {
	return &c.slots[maphash.String(c.seed, key)&(1<<14-1)]
}

func (c *profileCache) get(key string) (ctr.Profile, bool) {
	if cp := c.slot(key).Load(); cp != nil && cp.key == key {
		return cp.p, true
	}
	return ctr.UnknownProfile, false
}

func (c *profileCache) put(key string, p ctr.Profile) {
	c.slot(key).Store(&cachedProfile{key: key, p: p})
}
