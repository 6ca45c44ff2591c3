package scenarios

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/recsys/internal/evaluate"
	"github.com/casebook-ml/casebook/recsys/internal/live"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

// The decay scenario's simulated serving: one step every decayStep, decayRequests
// requests each, for decayDays days after the data set ends.
const (
	decayStep     = 2 * time.Hour
	decayRequests = 150
	decayDays     = 6
	decayK        = 10
	// decayTolerance is the CTR drop, as a share of the version's first-day CTR, that counts as
	// decay.
	decayTolerance = 0.2
	// psiAlarm is the population stability index that counts as drift.
	psiAlarm = 0.2
	// retrainDelay is how long after the alarm the retrain runs (it waits for a day of
	// clicks at the new tastes); freshWeight is how much those clicks count.
	retrainDelay = 24 * time.Hour
	freshWeight  = 5
)

// decayRun is the serving loop's state: the system, the log of impressions and clicks,
// and the join that turns them into CTR per ranker version.
type decayRun struct {
	w     *world
	sys   *live.System
	log   *eventlog.Log
	pl    *monitoring.PredictionLog
	join  *monitoring.Joiner
	read  map[string]uint64
	rng   *rand.Rand
	users *sim.UserSampler
	clock time.Time
	seq   int
	// clicks are the positive interactions collected since serving began (retraining data).
	clicks  []ratings.Rating
	pending []predlog.Outcome
	// scores are the served top-1 ranker scores of each step (the drift signal's input).
	scores [][]float64
}

// step serves one interval: requests, impressions logged, clicks simulated with the sim's
// position-biased click model at the current (possibly shifted) tastes.
func (d *decayRun) step(ctx context.Context) (impressions, clicks int, err error) {
	var preds []predlog.Prediction
	var ins []recfeatures.Interaction
	var top []float64
	for range decayRequests {
		u := d.users.Next()
		t := d.clock.Add(time.Duration(d.rng.Int64N(int64(decayStep))))
		resp, err := d.sys.Service.Recommend(ctx, recommend.Request{User: u, K: decayK})
		if err != nil {
			return 0, 0, err
		}
		ver := versionOf(resp.ModelVersion)
		if len(resp.Items) > 0 {
			top = append(top, resp.Items[0].Score)
		}
		d.seq++
		for p, it := range resp.Items {
			id := "imp-" + strconv.Itoa(d.seq) + "-" + strconv.Itoa(p)
			preds = append(preds, predlog.Prediction{ID: id, Model: live.RankerModel, Version: ver, Alias: "champion", Time: t,
				Features: map[string]float64{"position": float64(p)}, Score: resp.Items[p].Score, Path: resp.Path})
			if d.w.sim.Click(d.rng, u, it.ID, p, t.Unix()) {
				ct := t.Add(time.Duration(1+d.rng.IntN(10)) * time.Minute)
				d.pending = append(d.pending, predlog.Outcome{ID: id, Model: live.RankerModel, Label: 1, Time: ct, Kind: "click"})
				d.clicks = append(d.clicks, ratings.Rating{User: u, Item: it.ID, Value: 1, Time: ct.Unix()})
				ins = append(ins, recfeatures.Interaction{User: u, Item: it.ID, Time: ct})
				clicks++
			}
		}
	}
	impressions = len(preds)
	for lo := 0; lo < len(preds); lo += 256 {
		if err := d.pl.Log(ctx, preds[lo:min(lo+256, len(preds))]...); err != nil {
			return 0, 0, err
		}
	}
	d.scores = append(d.scores, top)
	d.clock = d.clock.Add(decayStep)
	// Clicks are reported when they happen: all of this step's are in by its end.
	if err := d.pl.LogOutcomes(ctx, d.pending...); err != nil {
		return 0, 0, err
	}
	d.pending = d.pending[:0]
	slicesSortInteractions(ins)
	if err := d.sys.Interact(ctx, ins); err != nil {
		return 0, 0, err
	}
	// The monitor reads the event log: predictions and outcomes joined by id in event time;
	// an impression with no click within the horizon is a negative.
	h := d.join.Handler()
	for _, stream := range []string{predlog.PredictionStream, predlog.OutcomeStream} {
		st, err := d.log.Replay(ctx, stream, eventlog.FromSequence(d.read[stream]+1), nil, h)
		if err != nil {
			return 0, 0, fmt.Errorf("read %s: %w", stream, err)
		}
		if st.Events > 0 {
			d.read[stream] = st.LastSeq
		}
	}
	d.join.Advance(d.clock)
	return impressions, clicks, nil
}

// slicesSortInteractions puts a step's clicks in event-time order, the feature store's log
// order.
func slicesSortInteractions(ins []recfeatures.Interaction) {
	slices.SortStableFunc(ins, func(a, b recfeatures.Interaction) int { return a.Time.Compare(b.Time) })
}

func versionOf(ref string) int {
	i := len(ref) - 1
	for i >= 0 && ref[i] >= '0' && ref[i] <= '9' {
		i--
	}
	n, _ := strconv.Atoi(ref[i+1:])
	return n
}

// offlineCTR estimates, before publishing, the click-through rate a model set will get:
// the sim's click model applied to its recommendations for sampled users at time at. It is
// the number the decay detector compares online CTR with.
func offlineCTR(ctx context.Context, m *train.Models, s *sim.Sim, at time.Time, users *sim.UserSampler, hist *recommend.History) (float64, error) {
	svc, _, err := evaluate.OfflineService(ctx, m, retrieval.DefaultBuildConfig(), recommend.DefaultConfig(), hist)
	if err != nil {
		return 0, err
	}
	var sum float64
	var n int
	for range 600 {
		u := users.Next()
		resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: decayK})
		if err != nil {
			return 0, err
		}
		for p, it := range resp.Items {
			sum += s.ClickProb(u, it.ID, p, at.Unix())
			n++
		}
	}
	return sum / float64(max(1, n)), nil
}

func decay() scenario.Scenario {
	return scenario.Scenario{
		Name:    "recsys/decay",
		Summary: "How do you detect that a recommender is decaying? Tastes shift two days into serving; impressions and clicks go to the event log, CTR per model version is joined from them, the decay detector and score drift are timed against the shift, and a retrain on the clicks is gated, swapped in, and compared with the old model at the new tastes.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			w, err := getWorld(ctx)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			reg, cleanup, err := tempRegistry()
			if err != nil {
				return err
			}
			defer cleanup()
			lc := eventlog.DefaultConfig()
			l, err := eventlog.Open(ctx, lc)
			if err != nil {
				return err
			}
			defer l.Close()
			for _, sc := range monitoring.Streams(0) {
				if _, err := l.EnsureStream(ctx, sc); err != nil {
					return err
				}
			}
			mm, err := monitoring.NewMetrics(nil)
			if err != nil {
				return err
			}
			pl, err := monitoring.NewPredictionLog(l, mm, nil)
			if err != nil {
				return err
			}
			join, err := monitoring.NewJoiner(monitoring.JoinConfig{Model: live.RankerModel, Horizon: 2 * decayStep, ImplicitNegative: true,
				Window: 3 * decayRequests * decayK, K: 100, ActionThreshold: 0.5}, mm)
			if err != nil {
				return err
			}
			rng := rand.New(rand.NewPCG(11, 12))
			users := sim.NewUserSampler(worldConfig().Users, 0.5, 5)

			r.Step("Train on the history, estimate the CTR offline with the click model, publish (index gated), serve")
			cfg := trainConfig()
			m1, err := w.fitted(ctx)
			if err != nil {
				return err
			}
			ctr1, err := offlineCTR(ctx, m1, w.sim, w.end, sim.NewUserSampler(worldConfig().Users, 0.5, 98), nil)
			if err != nil {
				return err
			}
			p1, err := live.Publish(ctx, reg, m1, retrieval.DefaultBuildConfig(), "scenario", ml.Metrics{"ctr": ctr1})
			if err != nil {
				return err
			}
			d := &decayRun{w: w, log: l, pl: pl, join: join, read: map[string]uint64{}, rng: rng, users: users, clock: w.end}
			// Features are read as of the simulated clock (their TTLs count in event time).
			sys, err := live.Start(ctx, reg, m1, memory.New(m1.Features), recommend.DefaultConfig(), func() time.Time { return d.clock }, nil)
			if err != nil {
				return err
			}
			d.sys = sys
			r.Say("ranker v%d registered with offline CTR %.4f; serving from %s, tastes shift at %s (+%v)", p1.Ranker.Number, ctr1,
				w.end.Format("2006-01-02 15:04"), worldConfig().ShiftAt.Format("2006-01-02 15:04"), ShiftAfter)
			r.Measure("offline CTR estimate v1", ctr1, "")

			r.Step("Serve %d requests every %v; watch CTR (joined clicks) against the registered estimate, and the PSI of the served scores against the first day's", decayRequests, decayStep)
			var ref *monitoring.Reference
			var refScores []float64
			detectCTR, detectPSI := time.Duration(-1), time.Duration(-1)
			var retrainedAt time.Duration = -1
			var ctrBefore, ctrAfterShift, ctrRecovered []float64
			var oldAtShift, newAtShift float64
			baseline := map[int]float64{}
			servedSince := map[int]time.Duration{}
			alarmClicks := 0
			current := p1.Ranker
			servedSince[current.Number] = 0
			stepsPerDay := int(24 * time.Hour / decayStep)
			for i := 0; i < decayDays*stepsPerDay; i++ {
				imp, clk, err := d.step(ctx)
				if err != nil {
					return err
				}
				since := d.clock.Sub(w.end)
				ctr := float64(clk) / float64(max(1, imp))
				switch {
				case retrainedAt >= 0 && since > retrainedAt+decayStep:
					ctrRecovered = append(ctrRecovered, ctr)
				case since <= ShiftAfter:
					ctrBefore = append(ctrBefore, ctr)
				case retrainedAt < 0:
					ctrAfterShift = append(ctrAfterShift, ctr)
				}
				// Score drift: the served top-1 scores of the last six steps against
				// those of the version's first day (a new version starts a new reference).
				if since <= servedSince[current.Number]+24*time.Hour {
					refScores = append(refScores, d.scores[i]...)
					ref = nil
					continue
				}
				if ref == nil {
					if ref, err = monitoring.NewNumericReference(refScores, 10); err != nil {
						return err
					}
					refScores = nil
				}
				var recent []float64
				for _, s := range d.scores[max(0, len(d.scores)-6):] {
					recent = append(recent, s...)
				}
				psi, err := monitoring.PSIOf(ref.Counts, ref.Histogram(recent), 1e-4)
				if err != nil {
					return err
				}
				// The detector (monitoring.JudgeDecay): the joined CTR of the serving
				// version over the last Window impressions against its own CTR once it
				// had served a day. The offline estimate is registered too, but online
				// CTR also falls slowly as users' best items get clicked and leave their
				// lists, which the estimate does not model; a baseline measured online
				// shares that drift.
				q := join.Quality(current.Number)
				if baseline[current.Number] == 0 && since >= servedSince[current.Number]+24*time.Hour && q.Labelled >= 1000 {
					baseline[current.Number] = q.PositiveRate
				}
				dec := monitoring.JudgeDecay(q, baseline[current.Number], monitoring.DecayConfig{Metric: "ctr", Tolerance: decayTolerance, Relative: true, MinLabelled: 1000, MinPositives: 30})
				dec.Decayed = dec.Decayed && baseline[current.Number] > 0
				if i%stepsPerDay == stepsPerDay-1 || (dec.Decayed && detectCTR < 0) {
					r.Say("%-5s step CTR %.4f, joined CTR of v%d %.4f over %d impressions (baseline %.4f), score PSI %.3f", fmtSince(since), ctr, current.Number, dec.Online, q.Labelled, dec.Offline, psi)
				}
				if psi >= psiAlarm && detectPSI < 0 && retrainedAt < 0 {
					detectPSI = since
				}
				if dec.Decayed && detectCTR < 0 {
					detectCTR = since
					alarmClicks = len(d.clicks)
					r.Say("decay detected at +%s: online CTR %.4f is %.4f under its first day's %.4f; the nightly retrain will use the clicks since", fmtSince(since), dec.Online, dec.Drop, dec.Offline)
				}
				if detectCTR < 0 || retrainedAt >= 0 || since < detectCTR+retrainDelay {
					continue
				}
				fresh := d.clicks[alarmClicks:]
				r.Step("Retrain %v after the alarm on the history plus every click since serving began (%d; the %d since the alarm count %d times), gate the new index, promote", retrainDelay, len(d.clicks), len(fresh), freshWeight)
				retrain := append(append([]ratings.Rating(nil), w.ratings...), d.clicks...)
				for range freshWeight - 1 {
					retrain = append(retrain, fresh...)
				}
				m2, err := train.Fit(ctx, dedupe(retrain), cfg)
				if err != nil {
					return err
				}
				// Both models on the same users (same sampler seed) at the shifted tastes.
				hist := sys.Service.History()
				ctr2, err := offlineCTR(ctx, m2, w.sim, d.clock, sim.NewUserSampler(worldConfig().Users, 0.5, 99), hist)
				if err != nil {
					return err
				}
				if oldAtShift, err = offlineCTR(ctx, m1, w.sim, d.clock, sim.NewUserSampler(worldConfig().Users, 0.5, 99), hist); err != nil {
					return err
				}
				newAtShift = ctr2
				p2, err := live.Publish(ctx, reg, m2, retrieval.DefaultBuildConfig(), "scenario", ml.Metrics{"ctr": ctr2})
				if err != nil {
					return err
				}
				sys.SetItemItem(m2.ItemItem)
				if err := sys.WaitStack(ctx, fmt.Sprintf("%s/v%d", live.IndexModel, p2.Index.Number)); err != nil {
					return err
				}
				r.Say("v%d: index recall@10 %.4f (gate passed); expected CTR at the shifted tastes %.4f, against v%d's %.4f on the same users; serving it", p2.Ranker.Number, p2.Build.Recall, ctr2, p1.Ranker.Number, oldAtShift)
				current = p2.Ranker
				retrainedAt = since
				servedSince[current.Number] = since
			}
			mean := func(xs []float64) float64 {
				s := 0.0
				for _, x := range xs {
					s += x
				}
				return s / float64(max(1, len(xs)))
			}
			r.Step("What happened")
			r.Measure("CTR before the shift", mean(ctrBefore), "")
			r.Measure("CTR after the shift, before the retrain", mean(ctrAfterShift), "")
			r.Measure("CTR after the retrain", mean(ctrRecovered), "")
			r.Measure("hours from shift to CTR decay alarm", (detectCTR - ShiftAfter).Hours(), "h")
			if detectPSI >= 0 {
				r.Measure("hours from shift to score-drift alarm", (detectPSI - ShiftAfter).Hours(), "h")
			}
			r.Say("CTR: %.4f before the shift, %.4f after it, %.4f after the retrain", mean(ctrBefore), mean(ctrAfterShift), mean(ctrRecovered))
			switch {
			case detectCTR < 0:
				r.Say("the CTR decay detector never fired")
			case detectPSI < 0:
				r.Say("the served-score PSI never reached %.2f before the retrain: the model's inputs (embeddings, histories) barely move when tastes do; only outcomes show it", psiAlarm)
			case detectPSI < ShiftAfter:
				r.Say("score drift fired at +%s, before the shift: a false alarm (a PSI over a few hundred scores is noisy); CTR fired at +%s, after it", fmtSince(detectPSI), fmtSince(detectCTR))
			case detectPSI < detectCTR:
				r.Say("score drift fired first, at +%s, before CTR at +%s", fmtSince(detectPSI), fmtSince(detectCTR))
			default:
				r.Say("CTR fired first (+%s); score drift followed at +%s", fmtSince(detectCTR), fmtSince(detectPSI))
			}
			r.Check("the decay detector fires after the shift, not before", detectCTR > ShiftAfter)
			r.Check(fmt.Sprintf("CTR fell after the shift (%.4f → %.4f)", mean(ctrBefore), mean(ctrAfterShift)), mean(ctrAfterShift) < mean(ctrBefore))
			r.Measure("expected CTR at the shifted tastes, old model", oldAtShift, "")
			r.Measure("expected CTR at the shifted tastes, retrained model", newAtShift, "")
			r.Say("online CTR falls over the days for every version as frequent users' best items get clicked and leave their lists; the fair comparison is both models on the same users at the same time")
			r.Check(fmt.Sprintf("the retrained, gated model beats the old one at the shifted tastes (expected CTR %.4f vs %.4f)", newAtShift, oldAtShift), retrainedAt >= 0 && newAtShift > oldAtShift)
			return nil
		},
	}
}

func fmtSince(d time.Duration) string {
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(math.Mod(d.Hours(), 24)))
}

// dedupe keeps one rating per (user, item), summing nothing: the loader's contract is one
// row per pair; repeated clicks add weight through Value.
func dedupe(rs []ratings.Rating) []ratings.Rating {
	type key struct{ u, i int64 }
	at := map[key]int{}
	out := make([]ratings.Rating, 0, len(rs))
	for _, r := range rs {
		k := key{r.User, r.Item}
		if j, ok := at[k]; ok {
			out[j].Value += r.Value
			out[j].Time = max(out[j].Time, r.Time)
			continue
		}
		at[k] = len(out)
		out = append(out, r)
	}
	return out
}
