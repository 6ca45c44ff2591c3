package pacing

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Strategy names a pacing strategy of the simulation.
type Strategy string

// The strategies SimulateDay compares.
const (
	StrategyNone     Strategy = "none"
	StrategyThrottle Strategy = "throttle"
	StrategyPID      Strategy = "pid"
)

// SimConfig describes the simulated day. The market model: each request is eligible for
// each campaign independently with the campaign's reach; a campaign's value for the
// impression is its value per click times a click-through rate drawn per (request,
// campaign); the rest of the market is one exogenous competing bid per request (the highest
// competing eCPM, per impression), log-normal around a median that swings with the time
// of day. The slot goes to the highest bid, which pays the second highest (second price by
// eCPM, all bids per impression).
type SimConfig struct {
	Seed      uint64
	DayStart  time.Time
	Campaigns int
	Requests  int // in the day
	// Forecast is the traffic curve pacers plan with. Actual traffic deviates from it by a
	// log-normal factor per hour with standard deviation TrafficNoise (renormalised, so
	// the day still has Requests requests).
	Forecast     Diurnal
	TrafficNoise float64
	// Per campaign, drawn uniformly: the probability a request is eligible, and the value
	// per click (USD).
	ReachMin, ReachMax float64
	ValueMin, ValueMax float64
	// Click-through rate per (request, campaign): log-normal with mean CTR.
	CTR, CTRSigma float64
	// The competing bid per impression (USD): log-normal with median MarketMedian × (1 +
	// MarketSwing × cos(2π(h − 20)/24)) at hour h (pricier in the evening) and log
	// standard deviation MarketSigma.
	MarketMedian, MarketSigma, MarketSwing float64
	// A campaign's budget is a share, drawn uniformly in [BudgetMin, BudgetMax], of what it
	// spends in the day with no budget and no pacing.
	BudgetMin, BudgetMax float64
	// Impression reports arrive after an exponential delay with mean ReportDelay; a share
	// LostReports never arrives.
	ReportDelay time.Duration
	LostReports float64
	// Window is the ledger's reservation window (LedgerConfig.Window).
	Window     time.Duration
	Throttle   ThrottleConfig
	PID        PIDConfig
	Strategies []Strategy
	Modes      []Mode
}

// DefaultSimConfig is 20 campaigns and 400,000 requests, reports 5 minutes late on
// average with 1% lost, each strategy in both ledger modes.
func DefaultSimConfig() SimConfig {
	return SimConfig{
		Seed: 42, DayStart: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
		Campaigns: 20, Requests: 400_000,
		Forecast: DefaultDiurnal(), TrafficNoise: 0.1,
		ReachMin: 0.1, ReachMax: 0.4,
		ValueMin: 0.5, ValueMax: 2,
		CTR: 0.02, CTRSigma: 0.5,
		MarketMedian: 0.03, MarketSigma: 0.5, MarketSwing: 0.2,
		BudgetMin: 0.25, BudgetMax: 0.75,
		ReportDelay: 5 * time.Minute, LostReports: 0.01,
		Window:   30 * time.Minute,
		Throttle: DefaultThrottleConfig(), PID: DefaultPIDConfig(),
		Strategies: []Strategy{StrategyNone, StrategyThrottle, StrategyPID},
		Modes:      []Mode{ReserveAtDecision, CountOnReport},
	}
}

// Validate reports whether the configuration can be simulated.
func (c SimConfig) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: sim: "+format, append([]any{ErrConfig}, a...)...)
	}
	between := func(lo, hi, floor, ceil float64) bool { return lo >= floor && lo <= hi && hi <= ceil }
	switch {
	case c.DayStart.IsZero():
		return bad("no day start")
	case c.Campaigns < 1 || c.Campaigns > 64:
		return bad("%d campaigns, want 1–64", c.Campaigns)
	case c.Requests < 1 || c.Requests > 2_000_000:
		return bad("%d requests, want 1–2,000,000", c.Requests)
	case !(c.TrafficNoise >= 0 && c.TrafficNoise <= 2):
		return bad("traffic noise %v, want in [0, 2]", c.TrafficNoise)
	case !between(c.ReachMin, c.ReachMax, 0, 1) || c.ReachMax == 0:
		return bad("reach [%v, %v], want 0 ≤ min ≤ max ≤ 1, max > 0", c.ReachMin, c.ReachMax)
	case !between(c.ValueMin, c.ValueMax, 0, math.MaxFloat64) || c.ValueMin == 0:
		return bad("value per click [%v, %v], want 0 < min ≤ max", c.ValueMin, c.ValueMax)
	case !(c.CTR > 0 && c.CTR < 1) || !(c.CTRSigma >= 0 && c.CTRSigma <= 3):
		return bad("CTR %v σ %v, want CTR in (0, 1), σ in [0, 3]", c.CTR, c.CTRSigma)
	case !(c.MarketMedian > 0) || math.IsInf(c.MarketMedian, 0) || !(c.MarketSigma >= 0 && c.MarketSigma <= 3) || !(c.MarketSwing >= 0 && c.MarketSwing < 1):
		return bad("market median %v σ %v swing %v, want median > 0, σ in [0, 3], swing in [0, 1)", c.MarketMedian, c.MarketSigma, c.MarketSwing)
	case !between(c.BudgetMin, c.BudgetMax, 0, 10) || c.BudgetMin == 0:
		return bad("budget share [%v, %v], want 0 < min ≤ max ≤ 10", c.BudgetMin, c.BudgetMax)
	case c.ReportDelay <= 0 || !(c.LostReports >= 0 && c.LostReports < 1):
		return bad("report delay %v, lost %v, want delay > 0, lost in [0, 1)", c.ReportDelay, c.LostReports)
	case len(c.Strategies) == 0 || len(c.Modes) == 0:
		return bad("no strategies or no modes to run")
	}
	if err := c.Forecast.Validate(); err != nil {
		return err
	}
	if err := (LedgerConfig{Mode: ReserveAtDecision, Window: c.Window, Retention: c.Window, Shards: 1}).Validate(); err != nil {
		return err
	}
	if err := c.Throttle.Validate(); err != nil {
		return err
	}
	if err := c.PID.Validate(); err != nil {
		return err
	}
	for _, s := range c.Strategies {
		if s != StrategyNone && s != StrategyThrottle && s != StrategyPID {
			return bad("unknown strategy %q", s)
		}
	}
	for _, m := range c.Modes {
		if m != ReserveAtDecision && m != CountOnReport {
			return bad("unknown ledger mode %d", int(m))
		}
	}
	return nil
}

// SimCampaign is a simulated campaign.
type SimCampaign struct {
	ID            int64
	Reach         float64 // probability a request is eligible
	ValuePerClick float64 // USD
	Unpaced       float64 // what it buys in the day with no budget and no pacing, USD
	Budget        float64 // daily budget, USD
}

// Result is every run of a simulated day.
type Result struct {
	Config    SimConfig
	Campaigns []SimCampaign
	Runs      []Run // strategies × modes, in the configured order (strategy major)
}

// Run is one strategy with one ledger mode.
type Run struct {
	Strategy  Strategy
	Mode      Mode
	Campaigns []CampaignResult // as Result.Campaigns
	Summary   Summary
}

// CampaignResult is one campaign's day. The series have one entry per minute of the day;
// spend in them is counted at impression time (what was bought when), whatever the ledger
// mode, so they are comparable across runs.
type CampaignResult struct {
	ID         int64
	Budget     float64
	Spend      []float64 // bought in each minute, USD
	Cumulative []float64 // bought by the end of each minute
	Plan       []float64 // budget × forecast share of traffic by the end of each minute
	Control    []float64 // participation rate (throttle) or bid multiplier (PID) during each minute
	// Billed is what the ledger billed (confirmed reports); Delivered what the impressions
	// cost, including those whose report was lost or came after the window (not billable).
	Billed, Delivered float64
	SpendRatio        float64       // Billed / Budget
	Overspend         float64       // max(0, SpendRatio − 1)
	ExhaustedAt       time.Duration // when 99% of the budget had been bought; −1: never
	Deviation         float64       // mean over the day's minutes of |Cumulative − Plan| / Budget
	Impressions       int
	Clicks, Value     float64 // expected clicks and their value (USD)
	MeanPrice         float64 // per impression, USD
	LostReports       int     // reports the simulation dropped
	Late, Expired     int64   // the ledger's counts: unbillable reports, expired reservations
}

// Summary is one run's row of the comparison table.
type Summary struct {
	Strategy       Strategy
	Mode           Mode
	MeanDeviation  float64 // mean over campaigns of CampaignResult.Deviation
	MaxOverspend   float64 // largest Overspend
	Overspenders   int     // campaigns billed more than 1% over budget
	ExhaustedEarly float64 // share of campaigns that bought 99% of their budget before 20:00
	Delivery       float64 // Σ billed / Σ budget
	ValuePerSpend  float64 // Σ value / Σ delivered
	CPM            float64 // mean price per thousand impressions, USD
	Unbillable     float64 // share of delivered spend not billed (lost or late reports)
	Late, Expired  int64
	UnknownReports int64
}

const (
	minutesPerDay = 1440
	exhaustShare  = 0.99
)

// world is what every run shares: the campaigns and the traffic, drawn once, so every
// strategy sees the same requests, values and market prices (common random numbers) and
// the draws are not repeated per run.
type world struct {
	cfg   SimConfig
	plan  Plan
	reach []float64
	value []float64
	// Request r of the day arrived in minute m with firstReq[m] ≤ r < firstReq[m+1]; it is
	// eligible for cands[firstCand[r]:firstCand[r+1]] and the market bids market[r].
	firstReq  []int
	firstCand []int32
	cands     []candidate
	market    []float64
}

func newWorld(cfg SimConfig) *world {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	w := &world{cfg: cfg, plan: Plan{DayStart: cfg.DayStart, Curve: cfg.Forecast}}
	for range cfg.Campaigns {
		w.reach = append(w.reach, cfg.ReachMin+(cfg.ReachMax-cfg.ReachMin)*rng.Float64())
		w.value = append(w.value, cfg.ValueMin+(cfg.ValueMax-cfg.ValueMin)*rng.Float64())
	}
	// Actual traffic: the forecast bent by a log-normal factor per hour.
	var hourly [24]float64
	total := 0.0
	for h := range hourly {
		hourly[h] = cfg.Forecast.HourShare(h) * math.Exp(cfg.TrafficNoise*rng.NormFloat64())
		total += hourly[h]
	}
	w.firstReq = make([]int, minutesPerDay+1)
	meanReach := (cfg.ReachMin + cfg.ReachMax) / 2
	w.firstCand = make([]int32, 0, cfg.Requests+2)
	w.cands = make([]candidate, 0, int(float64(cfg.Requests*cfg.Campaigns)*meanReach*1.05))
	w.market = make([]float64, 0, cfg.Requests+1)
	carry := 0.0
	for m := range minutesPerDay {
		x := float64(cfg.Requests)*hourly[m/60]/total/60 + carry
		n := int(x)
		carry = x - float64(n)
		w.firstReq[m+1] = w.firstReq[m] + n
		median := cfg.MarketMedian * (1 + cfg.MarketSwing*math.Cos(2*math.Pi*(float64(m)/60-20)/24))
		for range n {
			w.firstCand = append(w.firstCand, int32(len(w.cands)))
			for c := range cfg.Campaigns {
				if rng.Float64() < w.reach[c] {
					ctr := cfg.CTR * math.Exp(cfg.CTRSigma*rng.NormFloat64()-cfg.CTRSigma*cfg.CTRSigma/2)
					w.cands = append(w.cands, candidate{c: c, ctr: ctr})
				}
			}
			w.market = append(w.market, median*math.Exp(cfg.MarketSigma*rng.NormFloat64()))
		}
	}
	w.firstCand = append(w.firstCand, int32(len(w.cands)))
	return w
}

// SimulateDay runs the day once without budgets to size each campaign's budget against its
// demand, then once per strategy and ledger mode (concurrently; each run is deterministic
// given the seed).
func SimulateDay(cfg SimConfig) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	w := newWorld(cfg)
	n := cfg.Campaigns
	unlimited := make([]Micros, n)
	for i := range unlimited {
		unlimited[i] = 1 << 60
	}
	free, err := w.run(StrategyNone, ReserveAtDecision, unlimited)
	if err != nil {
		return Result{}, err
	}
	res := Result{Config: cfg, Campaigns: make([]SimCampaign, n)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xb0d6e7))
	budgets := make([]Micros, n)
	for i := range n {
		share := cfg.BudgetMin + (cfg.BudgetMax-cfg.BudgetMin)*rng.Float64()
		budgets[i] = max(1, FromDollars(free.Campaigns[i].Delivered*share))
		res.Campaigns[i] = SimCampaign{ID: int64(i + 1), Reach: w.reach[i], ValuePerClick: w.value[i],
			Unpaced: free.Campaigns[i].Delivered, Budget: budgets[i].Dollars()}
	}
	type job struct {
		s Strategy
		m Mode
	}
	var jobs []job
	for _, s := range cfg.Strategies {
		for _, m := range cfg.Modes {
			jobs = append(jobs, job{s, m})
		}
	}
	res.Runs = make([]Run, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { res.Runs[i], errs[i] = w.run(j.s, j.m, budgets) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	return res, nil
}

type candidate struct {
	c        int
	ctr, bid float64
}

type report struct {
	res    Reservation
	amount Micros
	at     time.Duration // since the day started
}

// run simulates one day with one strategy and ledger mode.
func (w *world) run(strategy Strategy, mode Mode, budgets []Micros) (Run, error) {
	cfg := w.cfg
	n := cfg.Campaigns
	ledger, err := NewLedger(LedgerConfig{Mode: mode, Window: cfg.Window, Retention: cfg.Window, Shards: 8})
	if err != nil {
		return Run{}, err
	}
	for i, b := range budgets {
		if err := ledger.SetBudget(int64(i+1), b); err != nil {
			return Run{}, err
		}
	}
	var pacer Pacer = None{}
	interval := time.Minute
	switch strategy {
	case StrategyThrottle:
		tc := cfg.Throttle
		tc.Seed = mix(cfg.Seed ^ tc.Seed)
		if pacer, err = NewThrottle(w.plan, tc, ledger); err != nil {
			return Run{}, err
		}
		interval = tc.Interval
	case StrategyPID:
		if pacer, err = NewPID(w.plan, cfg.PID, ledger); err != nil {
			return Run{}, err
		}
		interval = cfg.PID.Interval
	}
	every := max(1, int(interval/time.Minute))

	out := Run{Strategy: strategy, Mode: mode, Campaigns: make([]CampaignResult, n)}
	for i := range out.Campaigns {
		out.Campaigns[i] = CampaignResult{
			ID: int64(i + 1), Budget: budgets[i].Dollars(),
			Spend: make([]float64, minutesPerDay), Cumulative: make([]float64, minutesPerDay),
			Plan: make([]float64, minutesPerDay), Control: make([]float64, minutesPerDay),
		}
	}
	// The run lasts past midnight by the window, so every reservation of the day is settled
	// or expired and every report that is still billable has arrived.
	total := minutesPerDay + int(cfg.Window/time.Minute) + 2
	reports := make([][]report, total)
	delivered := make([]Micros, n)
	bids := make([]candidate, 0, n)
	for minute := range total {
		start := time.Duration(minute) * time.Minute
		t0 := cfg.DayStart.Add(start)
		ledger.Expire(t0)
		if minute < minutesPerDay && minute%every == 0 {
			pacer.Update(t0)
		}
		if minute < minutesPerDay {
			for i := range out.Campaigns {
				p, m := pacer.State(int64(i + 1))
				out.Campaigns[i].Control[minute] = p * m // one of the two is 1
			}
			lo, hi := w.firstReq[minute], w.firstReq[minute+1]
			for r := lo; r < hi; r++ {
				request := uint64(r + 1)
				at := start + time.Duration((float64(r-lo)+0.5)/float64(hi-lo)*float64(time.Minute))
				now := cfg.DayStart.Add(at)
				bids = bids[:0]
				for _, cd := range w.cands[w.firstCand[r]:w.firstCand[r+1]] {
					if ok, mult := pacer.Decide(int64(cd.c+1), request, now); ok {
						cd.bid = mult * cd.ctr * w.value[cd.c]
						// Insertion keeps bids in decreasing order (ties: lower campaign
						// first, as they arrive); there are only a handful.
						j := len(bids)
						bids = append(bids, cd)
						for ; j > 0 && bids[j-1].bid < cd.bid; j-- {
							bids[j] = bids[j-1]
						}
						bids[j] = cd
					}
				}
				if len(bids) > 0 {
					w.auction(ledger, bids, w.market[r], request, now, at, &out, delivered, reports)
				}
			}
		}
		for _, r := range reports[minute] {
			// The reported outcome does not change the simulation; the ledger counts it.
			_ = ledger.Confirm(r.res, r.amount, cfg.DayStart.Add(r.at))
		}
		reports[minute] = nil
		if minute < minutesPerDay {
			end := start + time.Minute
			share := cfg.Forecast.CumulativeShare(end)
			for i := range out.Campaigns {
				cr := &out.Campaigns[i]
				cr.Cumulative[minute] = delivered[i].Dollars()
				cr.Plan[minute] = cr.Budget * share
				if cr.ExhaustedAt == 0 && cr.Cumulative[minute] >= exhaustShare*cr.Budget {
					cr.ExhaustedAt = end
				}
			}
		}
	}
	ledger.Expire(cfg.DayStart.Add(time.Duration(total) * time.Minute))
	for i := range out.Campaigns {
		cr := &out.Campaigns[i]
		if cr.ExhaustedAt == 0 {
			cr.ExhaustedAt = -1
		}
		acct, _ := ledger.Account(cr.ID)
		cr.Billed, cr.Delivered = acct.Billed.Dollars(), delivered[i].Dollars()
		cr.Late, cr.Expired = acct.Late, acct.Expired
		cr.SpendRatio = cr.Billed / cr.Budget
		cr.Overspend = max(0, cr.SpendRatio-1)
		if cr.Impressions > 0 {
			cr.MeanPrice = cr.Delivered / float64(cr.Impressions)
		}
		dev := 0.0
		for m := range minutesPerDay {
			dev += math.Abs(cr.Cumulative[m] - cr.Plan[m])
		}
		cr.Deviation = dev / minutesPerDay / cr.Budget
	}
	out.Summary = summarise(strategy, mode, out.Campaigns)
	out.Summary.UnknownReports = ledger.UnknownReports()
	return out, nil
}

// auction is the simulation's market model: one slot, second price by eCPM. The bidder
// enters its best participating campaign that can reserve its bid (a campaign the ledger
// refuses does not bid); the runner-up is the best other campaign that could have afforded
// its bid, or the exogenous market bid, whichever is higher.
func (w *world) auction(ledger *Ledger, bids []candidate, market float64, request uint64, now time.Time, at time.Duration,
	out *Run, delivered []Micros, reports [][]report) {
	cfg := w.cfg
	entrant := -1
	var (
		reserved Micros
		res      Reservation
	)
	for j, b := range bids {
		maxCost := CeilMicros(b.bid)
		if maxCost <= 0 {
			continue
		}
		if r, err := ledger.Reserve(int64(b.c+1), request, maxCost, now); err == nil {
			entrant, reserved, res = j, maxCost, r
			break
		}
	}
	if entrant < 0 {
		return
	}
	win := bids[entrant]
	if win.bid <= market {
		_ = ledger.Release(res) // lost the auction: the impression will not happen
		return
	}
	price := market
	for _, b := range bids[entrant+1:] {
		if ledger.Available(int64(b.c+1)) >= CeilMicros(b.bid) {
			price = max(price, b.bid)
			break
		}
	}
	cost := min(FromDollars(price), reserved)
	cr := &out.Campaigns[win.c]
	minute := int(at / time.Minute)
	cr.Spend[minute] += cost.Dollars()
	cr.Impressions++
	cr.Clicks += win.ctr
	cr.Value += win.ctr * w.value[win.c]
	delivered[win.c] += cost
	// The report's fate is a hash of the event, not a draw, so it is the same in every run.
	if unit(coin(cfg.Seed, request, 1)) < cfg.LostReports {
		cr.LostReports++
		return
	}
	delay := time.Duration(-math.Log(1-unit(coin(cfg.Seed, request, 2))) * float64(cfg.ReportDelay))
	arrive := at + delay
	bucket := min(int(arrive/time.Minute), len(reports)-1)
	reports[bucket] = append(reports[bucket], report{res: res, amount: cost, at: arrive})
}

func summarise(strategy Strategy, mode Mode, cs []CampaignResult) Summary {
	s := Summary{Strategy: strategy, Mode: mode}
	var budget, billed, delivered, value float64
	imps := 0
	for _, c := range cs {
		s.MeanDeviation += c.Deviation / float64(len(cs))
		s.MaxOverspend = max(s.MaxOverspend, c.Overspend)
		if c.Overspend > 0.01 {
			s.Overspenders++
		}
		if c.ExhaustedAt >= 0 && c.ExhaustedAt < 20*time.Hour {
			s.ExhaustedEarly += 1 / float64(len(cs))
		}
		budget += c.Budget
		billed += c.Billed
		delivered += c.Delivered
		value += c.Value
		imps += c.Impressions
		s.Late += c.Late
		s.Expired += c.Expired
	}
	s.Delivery = billed / budget
	if delivered > 0 {
		s.ValuePerSpend = value / delivered
		s.Unbillable = max(0, 1-billed/delivered)
	}
	if imps > 0 {
		s.CPM = 1000 * delivered / float64(imps)
	}
	return s
}
