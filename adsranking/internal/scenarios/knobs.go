package scenarios

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"

	"github.com/casebook-ml/casebook/adsranking/internal/bidder"
	"github.com/casebook-ml/casebook/adsranking/internal/ctr"
	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// knob is one variant of the request path.
type knob struct {
	name  string
	cfg   bidder.Config
	model *ctr.Model
	// prefetch lists the users whose profiles are read into the bidder's cache before the
	// requests (bidder.Prefetch), off the request path.
	prefetch []string
}

// knobRow is what a variant cost and what it bought, on the same requests.
type knobRow struct {
	name                   string
	p50, p99, cpu          float64 // ms per request
	revenue, clicks        float64 // per 1,000 requests, USD and expected clicks (truth)
	excessLogLoss, calibra float64 // winners' predictions against the truth
	scored                 float64
	ahead                  float64 // ms of CPU per request spent prefetching, off the request path
	known                  float64 // share of requests whose user's profile was known
	// Per request: revenue, true clicks and whether the deadline made it step down the
	// ladder past what the variant chose (a busy machine does that to any variant).
	reqRevenue, reqClicks []float64
	late                  []bool
	lateShare             float64
}

func knobs() scenario.Scenario {
	return scenario.Scenario{
		Name:    "ads/knobs",
		Summary: "Latency knobs and what each costs in quality on the same requests: the ad-side cache (exact), profiles prefetched into the cache, the cached profile only (the ladder's first rung), fewer candidates, an int8 model, a distilled model, a model pruned of the profile-store fields (no profile read), the prior-only model; time and CPU per request beside revenue, clicks and log loss against the truth.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			r.Step("Train the click model by the pipeline on 300,000 requests, then its variants")
			w, err := sim.New(sim.DefaultConfig())
			if err != nil {
				return err
			}
			ix, err := inventory.New(w.Campaigns, w.Ads, len(w.Placements))
			if err != nil {
				return err
			}
			l, err := ctr.Generate(ctx, w, ix, w.Requests(300_000, 1), ctr.DefaultLogConfig())
			if err != nil {
				return err
			}
			split := l.SplitAt(sim.Day.Add(20 * time.Hour))
			base, rep, err := ctr.Train(ctx, l, split, 3, ctr.DefaultTrainConfig())
			if err != nil {
				return err
			}
			// Pruned: trained without the fields that need the profile-store read, on the
			// same split and configuration, for a bidder that skips the read.
			lp, err := l.WithoutFields(ctr.FieldSegment0, ctr.FieldSegment1, ctr.FieldAge)
			if err != nil {
				return err
			}
			pruned, prep, err := ctr.Train(ctx, lp, split, 3, ctr.DefaultTrainConfig())
			if err != nil {
				return err
			}
			r.Say("base model: holdout log loss %.5f (%.4f × the generator's); pruned (no segments, age): %.5f (%.4f ×)", rep.LogLoss, rep.Ratio(), prep.LogLoss, prep.Ratio())
			int8m := &ctr.Model{FM: base.FM.Quantize().Dequantize(), Position: base.Position, Calibration: base.Calibration}
			k := ctr.Schema.Len()
			d := ml.Dataset{Schema: ctr.Schema, X: l.X[:split*k], Y: l.Clicked[:split]}
			scfg := ctr.DefaultTrainConfig().FM
			scfg.Factors = 2
			student, err := ml.Distill(ctx, base.FM, d, func(ctx context.Context, d ml.Dataset) (ml.Model, error) { return ml.TrainFM(ctx, d, scfg) })
			if err != nil {
				return err
			}
			distilled := &ctr.Model{FM: student.(*ml.FM), Position: base.Position, Calibration: base.Calibration}
			def := bidder.DefaultConfig()
			noCache, fewer, prior, noProfile, cacheFirst := def, def, def, def, def
			noCache.AdCache = false
			// The ladder's first rung (the cached profile) at once: no store read on the
			// request path, whatever the cache holds.
			cacheFirst.Ladder.CachedFeatures = 1e-12
			fewer.Candidates = 200
			prior.PriorOnly = true
			noProfile.NoProfile = true
			const priorName = "prior CTR only (the ladder's last model)"
			reqs := w.Requests(3000, 41)
			userIDs := func(rs []sim.Request) []string {
				out := make([]string, len(rs))
				for i, sr := range rs {
					out[i] = w.BidRequest(sr).User.ID
				}
				return out
			}
			const otherTraffic = 10_000
			variants := []knob{
				{name: "baseline: 1,000 candidates, FM (8 factors), no ad cache", cfg: noCache, model: base},
				{name: "+ ad-side cache (exact)", cfg: def, model: base},
				{name: "+ cache, profiles prefetched (no store read in the request)", cfg: cacheFirst, model: base, prefetch: userIDs(reqs)},
				{name: fmt.Sprintf("+ cache, cached profile only (filled by %dk other requests)", otherTraffic/1000), cfg: cacheFirst, model: base, prefetch: userIDs(w.Requests(otherTraffic, 40))},
				{name: "+ cache, 200 candidates", cfg: fewer, model: base},
				{name: "+ cache, int8 model", cfg: def, model: int8m},
				{name: "+ cache, distilled FM (2 factors)", cfg: def, model: distilled},
				{name: "+ cache, pruned: no profile read (segments, age dropped)", cfg: noProfile, model: pruned},
				{name: priorName, cfg: prior, model: base},
			}
			freg := features.NewRegistry()
			if err := profiles.Register(freg); err != nil {
				return err
			}
			store := memory.New(freg)
			if err := profiles.Materialize(ctx, store, w.Users, time.Now(), nil); err != nil {
				return err
			}
			prior0 := map[int64]float64{}
			shown := map[int64][2]float64{}
			for i := range split {
				s := shown[l.Ad[i]]
				shown[l.Ad[i]] = [2]float64{s[0] + l.Clicked[i]/base.Position[l.Slot[i]], s[1] + 1}
			}
			for ad, s := range shown {
				prior0[ad] = (s[0] + 2*w.Config().BaseCTR) / (s[1] + 2) // smoothed toward the base rate
			}
			ix.SetPriorCTR(prior0, w.Config().BaseCTR)
			r.Step("The same %d requests through each variant (in process, one at a time)", len(reqs))
			var rows []knobRow
			for _, v := range variants {
				// The bidder's clock runs at the request's own time of day (campaigns target
				// hours), so every variant and every run sees the same auctions whenever it
				// is run; it advances with the wall clock, so deadlines still mean something.
				var simBase, wallBase time.Time
				clock := func() time.Time { return simBase.Add(time.Since(wallBase)) }
				b, err := bidder.New(v.cfg, bidder.Deps{Inventory: ix, Model: &bidder.Model{Version: v.name, Model: v.model}, Placements: w.Placements, Profiles: store, Clock: clock})
				if err != nil {
					return err
				}
				b.Warm()
				row := knobRow{name: v.name}
				if v.prefetch != nil {
					simBase, wallBase = reqs[0].Time, time.Now()
					cpu0 := cputime.Process()
					if _, err := b.Prefetch(ctx, v.prefetch); err != nil {
						return err
					}
					row.ahead = float64(cputime.Process()-cpu0) / 1e6 / float64(len(reqs))
				}
				var ts []time.Duration
				var wins, h, hBayes, sp, spt float64
				// The level the variant itself chooses; a request past it ran late. (Prior-only
				// reports the cheaper-model level, which hides the steps below it.)
				chosen := bidder.Full
				if v.cfg.Ladder.CachedFeatures < 1e-6 {
					chosen = bidder.CachedFeatures
				}
				if v.cfg.PriorOnly {
					chosen = bidder.CheaperModel
				}
				cpu0 := cputime.Process()
				for _, sr := range reqs {
					simBase, wallBase = sr.Time, time.Now()
					t0 := wallBase
					_, out := b.Bid(ctx, w.BidRequest(sr), clock())
					ts = append(ts, time.Since(t0))
					row.scored += float64(out.Scored)
					row.late = append(row.late, out.Level > chosen)
					if out.Level > chosen {
						row.lateShare++
					}
					var rev, clk float64
					if out.KnownUser {
						row.known++
					}
					tc := w.Truth().NewContext(w.User(sr.User), out.Placement, out.Hour)
					for _, win := range out.Winners {
						pt := w.Truth().ClickProb(tc, win.Ad, win.Slot)
						p := math.Min(math.Max(win.PCTR*v.model.Position[win.Slot], 1e-9), 1-1e-9)
						h += -(pt*math.Log(p) + (1-pt)*math.Log(1-p))
						hBayes += -(pt*math.Log(pt) + (1-pt)*math.Log(1-pt))
						sp += p
						spt += pt
						row.revenue += win.CostPerImpression
						row.clicks += pt
						rev += win.CostPerImpression
						clk += pt
						wins++
					}
					row.reqRevenue, row.reqClicks = append(row.reqRevenue, rev), append(row.reqClicks, clk)
				}
				cpu := cputime.Process() - cpu0
				slices.Sort(ts)
				n := float64(len(reqs))
				row.p50, row.p99 = float64(ts[len(ts)/2])/1e6, float64(ts[len(ts)*99/100])/1e6
				row.cpu = float64(cpu) / 1e6 / n
				row.revenue, row.clicks, row.scored, row.known, row.lateShare = row.revenue*1000/n, row.clicks*1000/n, row.scored/n, row.known/n, row.lateShare/n
				row.excessLogLoss, row.calibra = h/hBayes-1, sp/spt
				rows = append(rows, row)
			}
			r.Say("%-62s %8s %8s %8s %8s %6s %7s %10s %9s %10s %7s", "variant", "p50 ms", "p99 ms", "CPU ms", "ahead ms", "known", "scored", "rev/1k $", "clicks/1k", "excess LL", "pred/true")
			for _, x := range rows {
				r.Say("%-62s %8.3f %8.3f %8.3f %8.3f %5.0f%% %7.0f %10.2f %9.2f %9.1f%% %7.2f", x.name, x.p50, x.p99, x.cpu, x.ahead, 100*x.known, x.scored, x.revenue, x.clicks, 100*x.excessLogLoss, x.calibra)
			}
			for _, x := range rows {
				if x.lateShare > 0 {
					r.Say("%s: %.2f%% of requests ran late enough to step down the degrade ladder (the machine was busy); their decisions differ from a quiet run's", x.name, 100*x.lateShare)
				}
			}
			r.Say("CPU ms: in the request; ahead ms: prefetching the profiles before the requests, per request (off the request path, not free); known: requests whose user's profile the bidder had")
			r.Say("excess LL: the winners' predicted click probabilities against the truth's, cross-entropy over the truth's own; pred/true: predicted over true clicks of the winners (the auction picks ads whose pCTR is high, so errors lean upward)")
			r.Say("pruned: the store here is in memory, so the read it saves is cheap; against Redis a read of 1 entity × 50 features is p99 0.136 ms (docs/benchmarks.md, features). Without segments, the campaigns that target them are not eligible either, so the row's loss is the model's and targeting's together")
			base0, cached, fetched, stale := rows[0], rows[1], rows[2], rows[3]
			priorRow := rows[slices.IndexFunc(rows, func(x knobRow) bool { return x.name == priorName })]
			// Compared on the requests neither variant stepped down for lack of time: what a
			// busy machine does to a request is not the cache's doing.
			same, compared := true, 0
			for i := range reqs {
				if base0.late[i] || cached.late[i] {
					continue
				}
				compared++
				same = same && math.Abs(base0.reqRevenue[i]-cached.reqRevenue[i]) < 1e-9 && math.Abs(base0.reqClicks[i]-cached.reqClicks[i]) < 1e-12
			}
			r.Check(fmt.Sprintf("the ad-side cache changes no decision: same revenue and clicks on each of the %d requests neither variant ran late on", compared), same && compared > len(reqs)/2)
			r.CheckTiming(fmt.Sprintf("the ad-side cache at least halves CPU per request (%.3f → %.3f ms)", base0.cpu, cached.cpu), cached.cpu <= base0.cpu/2)
			r.Check("the prior-only model loses clicks against the FM", priorRow.clicks < cached.clicks)
			r.Check(fmt.Sprintf("prefetching every user ahead knows more users than the cache filled by other traffic (%.1f%% vs %.1f%%; a store read knows %.1f%%, the gap is the direct-mapped cache's evictions)", 100*fetched.known, 100*stale.known, 100*cached.known),
				fetched.known > stale.known)
			r.Check(fmt.Sprintf("the cached profile alone knows fewer users than a store read (%.1f%% vs %.1f%%): the rung's quality cost is its misses", 100*stale.known, 100*cached.known),
				stale.known < cached.known)
			r.Measure("prefetch_cpu_ms", fetched.cpu, "ms")
			r.Measure("prefetch_ahead_cpu_ms", fetched.ahead, "ms")
			r.Measure("cached_profile_known_share", stale.known, "")
			r.Measure("cache_cpu_ms", cached.cpu, "ms")
			r.Measure("nocache_cpu_ms", base0.cpu, "ms")
			return nil
		},
	}
}
