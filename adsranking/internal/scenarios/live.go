package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/casebook-ml/casebook/adsranking/events"
	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/internal/live"
	"github.com/casebook-ml/casebook/adsranking/internal/pacing"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// liveStack starts the system on the local default: an embedded event log, a registry on
// a temporary directory, the in-memory online store.
func liveStack(ctx context.Context, cfg live.Config) (*live.System, *eventlog.Log, func(), error) {
	l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		return nil, nil, nil, err
	}
	reg, cleanup, err := tempRegistry()
	if err != nil {
		l.Close()
		return nil, nil, nil, err
	}
	freg := features.NewRegistry()
	if err := profiles.Register(freg); err != nil {
		return nil, nil, nil, err
	}
	// One process on simulated users: a key of its own for the user-id tokens.
	tok, err := pii.NewEphemeral()
	if err != nil {
		l.Close()
		cleanup()
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	sys, err := live.Start(ctx, cfg, live.Deps{Log: l, Registry: reg, Store: memory.New(freg), Tokenizer: tok})
	if err != nil {
		cancel()
		l.Close()
		cleanup()
		return nil, nil, nil, err
	}
	return sys, l, func() { cancel(); sys.Wait(); l.Close(); cleanup() }, nil
}

func liveScenario() scenario.Scenario {
	return scenario.Scenario{
		Name:    "ads/live",
		Summary: "The bidder as a service on the event log: campaign changes arrive as events and apply without a restart, impression reports bill the reservations made at decision time exactly once, and clicks are drawn from the truth.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			r.Step("Start: embedded NATS, a registry, the in-memory profile store; no champion yet, so train one (200,000 requests) and publish it")
			cfg := live.DefaultConfig()
			cfg.ControlInterval = 50 * time.Millisecond
			sys, l, stop, err := liveStack(ctx, cfg)
			if err != nil {
				return err
			}
			defer stop()
			r.Say("serving %s; pacing %s", sys.Bidder.Model().Version, sys.Pacer.Name())
			x := live.NewExchange(sys.World, l, 0.95, 3)
			reqs := sys.World.Requests(4000, 17)

			r.Step("Serve %d requests; the exchange shows 95%% of the winners, reports impressions and clicks on the log", len(reqs))
			var imps, clicks int
			var cost, pctr float64
			billedBefore := sys.Stats()
			for _, sr := range reqs {
				_, out := sys.Bid(ctx, sys.World.BidRequest(sr), time.Now())
				d, err := x.Deliver(ctx, sr, out, out.Position, time.Now())
				if err != nil {
					return err
				}
				imps += len(d.Impressions)
				clicks += len(d.Clicks)
				for _, i := range d.Impressions {
					cost += i.Cost
					pctr += i.PCTR
				}
			}
			r.Say("%d impressions ($%.2f), %d clicks (the model expected %.0f)", imps, cost, clicks, pctr)
			r.Step("Report every impression a second time (a retried report): the log deduplicates by id, the ledger bills once")
			dup := 0
			for _, sr := range reqs[:200] {
				_, out := sys.Bid(ctx, sys.World.BidRequest(sr), time.Now())
				if !out.Bid {
					continue
				}
				w := out.Winners[0]
				imp := events.Impression{Request: sr.IDString() + "-again", Time: time.Now(), Slot: w.Slot, Ad: w.Ad, Campaign: w.Campaign, Model: out.Model,
					PCTR: w.PCTR, Cost: w.CostPerImpression, Reserved: uint64(w.Reserved)}
				data, _ := json.Marshal(imp)
				for range 2 {
					if _, err := l.Publish(ctx, eventlog.Event{ID: imp.ID(), Subject: events.SubjectImpress, Data: data}); err != nil {
						return err
					}
				}
				imps++
				cost += imp.Cost
				dup++
			}
			settled := func() int64 {
				st := sys.Stats()
				return st.Billed + st.Unbillable - billedBefore.Billed - billedBefore.Unbillable
			}
			if err := waitCount(ctx, "every impression report to be settled", settled, int64(imps)); err != nil {
				return err
			}
			st := sys.Stats()
			billed := 0.0
			for _, c := range sys.World.Campaigns {
				if a, ok := sys.Ledger.Account(c.ID); ok {
					billed += a.Billed.Dollars()
				}
			}
			r.Say("billed %d impressions, $%.2f; %d not billable", st.Billed, billed, st.Unbillable)
			r.Check(fmt.Sprintf("every impression billed exactly once (%d reported, %d of them twice; %d billed)", imps, dup, st.Billed), st.Billed == int64(imps) && st.Unbillable == 0)
			r.Check(fmt.Sprintf("the ledger's billed total equals the impressions' cost ($%.4f vs $%.4f, to the micro-dollar per impression)", billed, cost),
				math.Abs(billed-cost) <= 1e-6*float64(imps)+1e-9)

			r.Step("An advertiser pauses a campaign and raises another's budget, as events on the log")
			var victim int64
			for _, sr := range reqs {
				if _, out := sys.Bid(ctx, sys.World.BidRequest(sr), time.Now()); out.Bid {
					victim = out.Winners[0].Campaign
					break
				}
			}
			raised := sys.World.Campaigns[0].ID
			before := sys.Index.Snapshot().Version()
			t0 := time.Now()
			if err := live.PublishChange(ctx, l, fmt.Sprintf("pause-%d", victim), inventory.Change{Kind: inventory.Pause, ID: victim}); err != nil {
				return err
			}
			if err := live.PublishChange(ctx, l, fmt.Sprintf("budget-%d", raised), inventory.Change{Kind: inventory.Budget, ID: raised, Budget: 5000}); err != nil {
				return err
			}
			if err := waitCount(ctx, "both changes applied", func() int64 { return int64(sys.Index.Snapshot().Version()) }, int64(before+2)); err != nil {
				return err
			}
			took := time.Since(t0)
			r.Say("both changes applied %.1f ms after publishing", float64(took)/1e6)
			r.CheckTiming(fmt.Sprintf("changes take effect within a second (%.1f ms)", float64(took)/1e6), took < time.Second)
			still := false
			for _, sr := range reqs {
				_, out := sys.Bid(ctx, sys.World.BidRequest(sr), time.Now())
				for _, w := range out.Winners {
					still = still || w.Campaign == victim
				}
			}
			a, _ := sys.Ledger.Account(raised)
			r.Check(fmt.Sprintf("the paused campaign %d never wins afterwards, without a restart", victim), victim != 0 && !still)
			r.Check(fmt.Sprintf("campaign %d's budget is $%.0f in the ledger", raised, a.Budget.Dollars()), a.Budget == pacing.FromDollars(5000))
			return nil
		},
	}
}
