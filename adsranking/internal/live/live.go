// Package live runs the ad auction as a service on the platform: the world's inventory and
// budgets, the click model followed from the registry's champion, user profiles in the
// online store, pacing on a control loop, and the event log carrying campaign changes in
// and auctions, impressions and clicks out. Serve and the scenarios start the same System.
package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/adsranking/events"
	"github.com/casebook-ml/casebook/adsranking/internal/admonitor"
	"github.com/casebook-ml/casebook/adsranking/internal/bidder"
	"github.com/casebook-ml/casebook/adsranking/internal/ctr"
	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/internal/pacing"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/registry"
)

// Config sets up a live system.
type Config struct {
	World  sim.Config
	Bidder bidder.Config
	// Pacer is "pid", "throttle" or "none".
	Pacer string
	// TrainRequests sizes the click log trained on when the registry has no champion yet.
	TrainRequests int
	// FloorRatio is the registry floor for that model (ctr.FloorRatio needs ~1.5 M
	// requests; a smaller log needs a looser floor, recorded with the version).
	FloorRatio float64
	// ControlInterval is how often pacing's control step and the ledger's expiry run.
	ControlInterval time.Duration
	// BudgetScale multiplies every campaign's daily budget: the world's budgets are sized
	// for its simulated day, and a load test sending thousands of requests a second would
	// spend them in minutes and measure mostly no-bids.
	BudgetScale float64
	// Monitor judges CTR and calibration per model version on served impressions.
	Monitor admonitor.Config
	// Instance names this process's durable consumers (campaign changes are replayed from
	// the start of the stream into each instance's in-memory inventory).
	Instance string
}

// DefaultConfig is the default world, PID pacing, a 200,000-request training log under a
// 1.10 floor, a control step every 10 s.
func DefaultConfig() Config {
	return Config{World: sim.DefaultConfig(), Bidder: bidder.DefaultConfig(), Pacer: "pid", TrainRequests: 200_000,
		FloorRatio: 1.10, ControlInterval: 10 * time.Second, BudgetScale: 1, Monitor: admonitor.DefaultConfig(), Instance: fmt.Sprint(time.Now().UnixNano())}
}

// Deps are the platform parts a system runs on.
type Deps struct {
	Log        *eventlog.Log
	Registry   *registry.Registry
	Store      features.OnlineStore  // its registry must hold profiles.View
	Metrics    *bidder.Metrics       // may be nil
	Registerer prometheus.Registerer // the monitor's series; may be nil
	Clock      func() time.Time      // nil: time.Now
	Logger     *slog.Logger
	// Tokenizer keys the user profiles and the bidder's lookups by keyed-hash tokens of
	// the user ids (profiles.TokenKey); nil keeps raw ids.
	Tokenizer *pii.Tokenizer
}

// System is the running bidder and what feeds it.
type System struct {
	World   *sim.World
	Index   *inventory.Index
	Ledger  *pacing.Ledger
	Pacer   pacing.Pacer
	Bidder  *bidder.Bidder
	Monitor *admonitor.Monitor
	log     *eventlog.Log
	reg     *registry.Registry
	clock   func() time.Time
	logger  *slog.Logger

	queue          auctionQueue
	dropped        atomic.Int64
	logged         atomic.Int64
	changesApplied atomic.Int64
	billed         atomic.Int64
	observed       atomic.Int64
	unbillable     atomic.Int64
	// done closes when the system's goroutines have stopped; err is why (nil: ctx ended).
	done chan struct{}
	err  error
}

// Start builds and starts a system; it runs until ctx ends (or a consumer fails), then Wait
// returns.
func Start(ctx context.Context, cfg Config, d Deps) (*System, error) {
	if d.Log == nil || d.Registry == nil || d.Store == nil {
		return nil, errors.New("live: a system needs an event log, a registry and an online store")
	}
	if !(cfg.BudgetScale > 0) {
		return nil, fmt.Errorf("live: BudgetScale %v, want > 0", cfg.BudgetScale)
	}
	s := &System{log: d.Log, reg: d.Registry, clock: d.Clock, logger: d.Logger, queue: auctionQueue{full: make(chan struct{}, 1)}}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.logger = s.logger.With("component", "ads-live")
	var err error
	if s.World, err = sim.New(cfg.World); err != nil {
		return nil, err
	}
	w := s.World
	if s.Index, err = inventory.New(w.Campaigns, w.Ads, len(w.Placements)); err != nil {
		return nil, err
	}
	if s.Ledger, err = pacing.NewLedger(pacing.DefaultLedgerConfig()); err != nil {
		return nil, err
	}
	for _, c := range w.Campaigns {
		if err := s.Ledger.SetBudget(c.ID, pacing.FromDollars(c.Budget*cfg.BudgetScale)); err != nil {
			return nil, err
		}
	}
	if s.Pacer, err = newPacer(cfg.Pacer, s.clock(), s.Ledger); err != nil {
		return nil, err
	}
	if s.Monitor, err = admonitor.New(cfg.Monitor, nil, s.logger, d.Registerer); err != nil {
		return nil, err
	}
	model, err := s.champion(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := profiles.Materialize(ctx, d.Store, w.Users, s.clock(), d.Tokenizer); err != nil {
		return nil, err
	}
	if s.Bidder, err = bidder.New(cfg.Bidder, bidder.Deps{Inventory: s.Index, Model: model, Placements: w.Placements, Profiles: d.Store,
		Pacer: s.Pacer, Ledger: s.Ledger, Clock: d.Clock, Metrics: d.Metrics, Tokenizer: d.Tokenizer}); err != nil {
		return nil, err
	}
	if _, err := s.log.EnsureStream(ctx, eventlog.StreamConfig{Name: events.Stream, Subjects: []string{events.SubjectsAll},
		Description: "ad auctions, impressions, clicks and campaign changes", MaxAge: 7 * 24 * time.Hour}); err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	follow, err := s.follow(ctx)
	if err != nil {
		return nil, err
	}
	s.run(ctx, cfg, follow)
	return s, nil
}

func newPacer(name string, now time.Time, l *pacing.Ledger) (pacing.Pacer, error) {
	curve, err := pacing.NewDiurnal(sim.HourlyTraffic)
	if err != nil {
		return nil, err
	}
	plan := pacing.Plan{DayStart: now.UTC().Truncate(24 * time.Hour), Curve: curve}
	switch name {
	case "pid":
		return pacing.NewPID(plan, pacing.DefaultPIDConfig(), l)
	case "throttle":
		return pacing.NewThrottle(plan, pacing.DefaultThrottleConfig(), l)
	case "none":
		return pacing.None{}, nil
	}
	return nil, fmt.Errorf("live: pacer %q, want pid, throttle or none", name)
}

// champion loads the click model's champion, training and publishing one first if the
// registry has none.
func (s *System) champion(ctx context.Context, cfg Config) (*bidder.Model, error) {
	_, err := s.reg.Resolve(ctx, ctr.ModelName, registry.Champion)
	if errors.Is(err, registry.ErrAliasNotFound) || errors.Is(err, registry.ErrModelNotFound) {
		s.logger.Info("no click model champion: training one", "requests", cfg.TrainRequests)
		if err := Train(ctx, s.reg, s.World, s.Index, cfg.TrainRequests, cfg.FloorRatio, 1); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	return s.load(ctx, registry.Champion)
}

func (s *System) load(ctx context.Context, ref string) (*bidder.Model, error) {
	m, v, err := ctr.Load(ctx, s.reg, ref)
	if err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	return &bidder.Model{Version: fmt.Sprintf("%s/v%d", ctr.ModelName, v.Number), Model: m}, nil
}

// Train generates a click log of requests on w and trains the click model on it by the
// platform pipeline (ctr.Run) into reg: registered with its position effect and
// calibration, and made champion only if its holdout log loss is within floor × the
// generator's. seed varies the log (a retrain on another day's traffic). A model the gate
// refuses is an error here, since the caller wanted a champion.
func Train(ctx context.Context, reg *registry.Registry, w *sim.World, ix *inventory.Index, requests int, floor float64, seed uint64) error {
	lc := ctr.DefaultLogConfig()
	lc.Seed = seed
	l, err := ctr.Generate(ctx, w, ix, w.Requests(requests, seed), lc)
	if err != nil {
		return err
	}
	res, err := ctr.Run(ctx, reg, l, ctr.RunConfig{Train: ctr.DefaultTrainConfig(), Slots: len(w.Config().Position),
		Holdout: ctr.HoldoutFrom(l, sim.Day.Add(20*time.Hour)), Floor: floor, Actor: "live"})
	if err != nil {
		return fmt.Errorf("live: train: %w", err)
	}
	if !res.GatesPassed {
		return fmt.Errorf("live: click model v%d refused by its gates (holdout log loss %.4f × the generator's, floor %.2f): %+v",
			res.Version, res.Metrics[ctr.EvalHoldout][ml.MetricLogLossRatio], floor, res.Gates)
	}
	return nil
}

// follow starts following the champion; the part it returns swaps the bidder's model
// when the champion moves.
func (s *System) follow(ctx context.Context) (cli.Part, error) {
	f, err := s.reg.Follow(ctx, ctr.ModelName, registry.Champion)
	if err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	return func(ctx context.Context) error {
		for {
			ch := f.Changed()
			mm, v := f.Current()
			if cur := s.Bidder.Model(); cur.Version != fmt.Sprintf("%s/v%d", ctr.ModelName, v.Number) {
				m, err := ctr.FromVersion(v, mm)
				if err == nil {
					err = s.Bidder.SetModel(&bidder.Model{Version: fmt.Sprintf("%s/v%d", ctr.ModelName, v.Number), Model: m})
				}
				if err != nil {
					s.logger.Error("kept the click model", "wanted", v.Number, "err", err)
				} else {
					s.logger.Info("click model switched", "version", v.Number)
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ch:
			}
		}
	}, nil
}

// run starts the follower, the consumers, the auction publisher and the control loop as
// one group: a consumer that fails stops the others, and Wait returns its error.
func (s *System) run(ctx context.Context, cfg Config, follow cli.Part) {
	consume := func(durable string, subjects []string, h eventlog.Handler) cli.Part {
		cc := eventlog.DefaultConsumerConfig()
		cc.Stream, cc.Durable, cc.Subjects, cc.Start = events.Stream, durable, subjects, eventlog.FromBeginning()
		cc.AckWait = 5 * time.Second
		return func(ctx context.Context) error {
			if err := s.log.Consume(ctx, cc, h); err != nil && ctx.Err() == nil {
				return fmt.Errorf("live: consumer %s: %w", durable, err)
			}
			return nil
		}
	}
	parts := []cli.Part{
		follow,
		// Campaign changes: replayed from the start into this instance's inventory.
		consume("ads-campaigns-"+cfg.Instance, []string{events.SubjectCampaign}, s.applyChange),
		// Impression reports settle the budget reservations (billing).
		consume("ads-billing-"+cfg.Instance, []string{events.SubjectImpress}, s.bill),
		// Impressions and clicks, in log order, feed the calibration monitor.
		consume("ads-monitor-"+cfg.Instance, []string{events.SubjectImpress, events.SubjectClick}, s.observe),
		func(ctx context.Context) error { s.publishAuctions(ctx); return nil },
		func(ctx context.Context) error { s.control(ctx, cfg.ControlInterval); return nil },
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.err = cli.Run(ctx, parts...)
		if s.err != nil {
			s.logger.Error("stopped", "err", s.err)
		}
	}()
}

// control expires reservations, updates the pacer and evaluates the calibration monitor
// every interval until ctx ends.
func (s *System) control(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := s.clock()
			s.Ledger.Expire(now)
			s.Pacer.Update(now)
			if alerts, err := s.Monitor.Evaluate(ctx); err != nil {
				s.logger.Error("calibration monitor", "err", err)
			} else {
				for _, a := range alerts {
					s.logger.Warn("calibration alert", "alert", a)
				}
			}
		}
	}
}

// Wait returns when every goroutine of the system has stopped: after ctx ended (nil), or
// after one of them failed and stopped the others (its error).
func (s *System) Wait() error {
	<-s.done
	return s.err
}

func (s *System) applyChange(_ context.Context, m *eventlog.Message) error {
	ch, err := inventory.DecodeChange(m.Data)
	if err != nil {
		return eventlog.Permanent(err)
	}
	if err := s.Index.Apply(ch); err != nil {
		return eventlog.Permanent(err)
	}
	switch ch.Kind {
	case inventory.Budget:
		err = s.Ledger.SetBudget(ch.ID, pacing.FromDollars(ch.Budget))
	case inventory.Pause:
		err = s.Ledger.Pause(ch.ID)
	case inventory.Resume:
		err = s.Ledger.Resume(ch.ID)
	case inventory.Upsert:
		err = s.Ledger.SetBudget(ch.Campaign.ID, pacing.FromDollars(ch.Campaign.Budget))
	}
	if err != nil {
		return eventlog.Permanent(fmt.Errorf("ledger: %w", err))
	}
	s.changesApplied.Add(1)
	return nil
}

func (s *System) bill(_ context.Context, m *eventlog.Message) error {
	imp, err := events.DecodeImpression(m.Data)
	if err != nil {
		return eventlog.Permanent(err)
	}
	if err := s.Ledger.Confirm(pacing.Reservation(imp.Reserved), pacing.FromDollars(imp.Cost), imp.Time); err != nil {
		// Late, duplicate or from another instance's ledger: not billable here, counted.
		s.unbillable.Add(1)
		return nil
	}
	s.billed.Add(1)
	return nil
}

func (s *System) observe(_ context.Context, m *eventlog.Message) error {
	var err error
	switch m.Subject {
	case events.SubjectImpress:
		var i events.Impression
		if i, err = events.DecodeImpression(m.Data); err == nil {
			err = s.Monitor.ObserveImpression(i)
		}
	case events.SubjectClick:
		var c events.Click
		if c, err = events.DecodeClick(m.Data); err == nil {
			err = s.Monitor.ObserveClick(c)
		}
	}
	if err != nil {
		return eventlog.Permanent(err)
	}
	s.observed.Add(1)
	return nil
}

// Bid answers a request (the server's Bidder) and logs the auction when it bid.
func (s *System) Bid(ctx context.Context, req *openrtb.BidRequest, arrived time.Time) (openrtb.BidResponse, bidder.Outcome) {
	resp, out := s.Bidder.Bid(ctx, req, arrived)
	if out.Bid {
		a := events.Auction{Request: req.ID, Time: arrived, Model: out.Model, Level: out.Level.String(), Winners: make([]events.Slot, len(out.Winners))}
		pos := out.Position
		for i, w := range out.Winners {
			a.Winners[i] = events.Slot{Slot: w.Slot, Ad: w.Ad, Campaign: w.Campaign, PCTR: w.PCTR * pos[w.Slot], Cost: w.CostPerImpression, Reserved: uint64(w.Reserved)}
		}
		if !s.queue.put(a) {
			// Never block a request on the log: count what could not be queued.
			s.dropped.Add(1)
		}
	}
	return resp, out
}

// auctionQueue holds the auctions decided since the last flush. Requests append under a
// mutex and wake the publisher only when a batch is full, so a request costs no goroutine
// hand-off (a channel send per auction woke the publisher 2,000 times a second).
type auctionQueue struct {
	mu   sync.Mutex
	buf  []events.Auction
	full chan struct{} // a batch is waiting; capacity 1
}

// put queues a and reports whether there was room.
func (q *auctionQueue) put(a events.Auction) bool {
	q.mu.Lock()
	n := len(q.buf)
	if n >= maxQueued {
		q.mu.Unlock()
		return false
	}
	q.buf = append(q.buf, a)
	q.mu.Unlock()
	if n+1 == maxBatch {
		select {
		case q.full <- struct{}{}:
		default:
		}
	}
	return true
}

// take swaps the queue's contents for spare (emptied) and returns them.
func (q *auctionQueue) take(spare []events.Auction) []events.Auction {
	clear(spare)
	q.mu.Lock()
	got := q.buf
	q.buf = spare[:0]
	q.mu.Unlock()
	return got
}

const (
	maxBatch  = 512  // auctions per event on the log
	maxQueued = 8192 // auctions waiting; more are dropped and counted, never blocking a bid
)

// publishAuctions logs the queued auctions in batches: every 10 ms, or sooner when 512 are
// waiting, each batch of at most 512 one event (events.AppendAuctions) published
// asynchronously. One event per batch instead of one per auction keeps the log's cost
// (encoding, the connection's writes, the server's appends and deduplication) off the
// per-request budget.
func (s *System) publishAuctions(ctx context.Context) {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	publisher := hex.EncodeToString(nonce[:])
	var seq uint64
	var spare []events.Auction
	var data []byte
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	flush := func(ctx context.Context) {
		all := s.queue.take(spare)
		for batch := all; len(batch) > 0; {
			n := min(len(batch), maxBatch)
			seq++
			data = events.AppendAuctions(data[:0], batch[:n])
			ev := eventlog.Event{ID: events.AuctionBatchID(publisher, seq), Subject: events.SubjectAuction, Time: batch[0].Time, Data: data}
			if p, err := s.log.PublishAsync([]eventlog.Event{ev}); err != nil {
				s.logger.Error("publish auctions", "n", n, "err", err)
			} else if _, err := p.Wait(ctx); err != nil {
				s.logger.Error("publish auctions", "n", n, "err", err)
			} else {
				s.logged.Add(int64(n))
			}
			batch = batch[n:]
		}
		spare = all
	}
	for {
		select {
		case <-ctx.Done():
			// Stopping: what is queued is logged too, with a little time of its own (the
			// log is closed only after this returns).
			s.flushDetached(ctx, flush)
			return
		case <-tick.C:
			flush(ctx)
		case <-s.queue.full:
			flush(ctx)
		}
	}
}

// flushDetached runs flush on a context that outlives ctx's cancellation by up to 2 s.
func (s *System) flushDetached(ctx context.Context, flush func(context.Context)) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	flush(fctx)
}

// Stats are the system's counters.
type Stats struct {
	ChangesApplied, Billed, Unbillable, AuctionsDropped int64
	Observed                                            int64 // impressions and clicks the monitor has seen
	AuctionsLogged                                      int64 // auctions stored on the log (in batches)
}

// Stats returns the counters.
func (s *System) Stats() Stats {
	return Stats{ChangesApplied: s.changesApplied.Load(), Billed: s.billed.Load(), Unbillable: s.unbillable.Load(), AuctionsDropped: s.dropped.Load(), Observed: s.observed.Load(), AuctionsLogged: s.logged.Load()}
}

// PublishChange puts a campaign change on the event log (an advertiser's console would).
func PublishChange(ctx context.Context, l *eventlog.Log, id string, ch inventory.Change) error {
	data, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	_, err = l.Publish(ctx, eventlog.Event{ID: id, Subject: events.SubjectCampaign, Data: data})
	return err
}
