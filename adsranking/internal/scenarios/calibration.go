package scenarios

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/adsranking/internal/live"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/scenario"
)

func calibration() scenario.Scenario {
	return scenario.Scenario{
		Name:    "ads/calibration",
		Summary: "A day of served traffic on the event log feeds the calibration monitor: the model that was calibrated on its holdout over-predicts on the ads the auction picks (the winner's curse), and the monitor's alert fires for that version.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			r.Step("Start the live system on a simulated clock (requests carry their own time of day); train on 200,000 requests")
			var now atomic.Int64
			now.Store(sim.Day.UnixNano())
			clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
			l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
			if err != nil {
				return err
			}
			defer l.Close()
			reg, cleanup, err := tempRegistry()
			if err != nil {
				return err
			}
			defer cleanup()
			freg := features.NewRegistry()
			if err := profiles.Register(freg); err != nil {
				return err
			}
			cfg := live.DefaultConfig()
			cfg.ControlInterval = 20 * time.Millisecond
			cfg.BudgetScale = 1000 // the point here is calibration, not budgets running out
			// 60,000 requests a day put about 200 expected clicks in an hour, where the 99%
			// interval of the ratio is ±20%: too wide to tell 0.8 from 0.9. Three hours
			// hold enough at the day's peak (a live exchange sends this many in seconds).
			cfg.Monitor.Window = 3 * time.Hour
			tok, err := pii.NewEphemeral()
			if err != nil {
				return err
			}
			sctx, cancel := context.WithCancel(ctx)
			sys, err := live.Start(sctx, cfg, live.Deps{Log: l, Registry: reg, Store: memory.New(freg), Clock: clock, Tokenizer: tok})
			if err != nil {
				cancel()
				return err
			}
			defer func() { cancel(); sys.Wait() }()
			x := live.NewExchange(sys.World, l, 1, 5)
			reqs := sys.World.Requests(60_000, 23)
			r.Step("Serve %d requests spread over the day; the exchange reports impressions and draws clicks from the truth", len(reqs))
			events := 0
			var clicks int
			var expected float64
			for _, sr := range reqs {
				now.Store(sr.Time.UnixNano())
				_, out := sys.Bid(ctx, sys.World.BidRequest(sr), sr.Time)
				d, err := x.Deliver(ctx, sr, out, out.Position, sr.Time)
				if err != nil {
					return err
				}
				events += len(d.Impressions) + len(d.Clicks)
				clicks += len(d.Clicks)
				for _, i := range d.Impressions {
					expected += i.PCTR
				}
			}
			if err := waitCount(ctx, "the monitor to see every event", func() int64 { return sys.Stats().Observed }, int64(events)); err != nil {
				return err
			}
			r.Say("%d events on the log, %d seen by the monitor; %d clicks against %.0f predicted", events, sys.Stats().Observed, clicks, expected)
			// Let the last hour mature (the attribution window passes), then judge.
			now.Store(sim.Day.Add(25 * time.Hour).UnixNano())
			sys.Monitor.Advance(clock())
			for range 3 {
				if _, err := sys.Monitor.Evaluate(ctx); err != nil {
					return err
				}
			}
			rep := sys.Monitor.Report()
			for _, line := range strings.Split(strings.TrimRight(rep.String(), "\n"), "\n") {
				r.Say("%s", line)
			}
			r.Check(fmt.Sprintf("the monitor saw every impression and click (%d)", events), sys.Stats().Observed == int64(events))
			var fired bool
			var ratio float64
			for _, row := range rep.Rows {
				if row.Model == sys.Bidder.Model().Version {
					fired = row.Alert != nil && row.Alert.State == monitoring.StateFiring
					ratio = row.Total.Ratio
				}
			}
			r.Check(fmt.Sprintf("observed/predicted clicks %.2f over the day: outside 1 ± 0.1, and the calibration alert fires for %s", ratio, sys.Bidder.Model().Version),
				(ratio < 0.9 || ratio > 1.1) && fired)
			return nil
		},
	}
}
