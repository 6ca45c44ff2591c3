// Package scenarios holds the fraud binary's runnable demonstrations (fraud scenario list).
package scenarios

import (
	"context"
	"fmt"
	"github.com/casebook-ml/casebook/platform/ml"
	"os"
	"time"

	"github.com/casebook-ml/casebook/fraud/internal/casestudy"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/eval"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// Set lists the fraud scenarios.
func Set() scenario.Set {
	return scenario.Set{protocol(), streaming(), dpTraining(), privacyPII()}
}

func protocol() scenario.Scenario {
	return scenario.Scenario{
		Name:    "fraud/protocol",
		Summary: "The handbook's simulator, features and train/delay/test protocol on 1,000 cards over 150 days: card precision@100, prequential selection through the registry's gates, thresholds for a review budget.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			cfg := sim.DefaultConfig()
			cfg.Customers, cfg.Terminals, cfg.Days = 1000, 2000, 150
			r.Step("Simulate transactions as chapter 3 of the handbook does")
			start := time.Now()
			d, err := sim.Generate(ctx, cfg)
			if err != nil {
				return err
			}
			frauds := 0
			for _, t := range d.Transactions {
				if t.Fraud {
					frauds++
				}
			}
			r.Say("%d customers, %d terminals, %d days: %d transactions, %d fraudulent (%.2f%%), in %v.",
				cfg.Customers, cfg.Terminals, cfg.Days, len(d.Transactions), frauds, 100*float64(frauds)/float64(len(d.Transactions)), time.Since(start).Round(time.Millisecond))
			r.Measure("transactions", float64(len(d.Transactions)), "")
			r.Measure("fraud rate", float64(frauds)/float64(len(d.Transactions)), "")

			r.Step("Compute the handbook's 15 features with the feature store (1 s buckets: its exact windows)")
			start = time.Now()
			x, err := casestudy.Featurize(d.Transactions)
			if err != nil {
				return err
			}
			r.Measure("feature seconds", time.Since(start).Seconds(), "s")
			r.Say("Customer: transactions and mean amount over 1, 7, 30 days up to the transaction. Terminal: transactions and fraud rate over 1, 7, 30 days ending 7 days before it (labels take a week). Weekend, night.")

			r.Step("Train 7 days, wait 7, test 7; select by prequential card precision@100; estimate over 4 test weeks")
			tab := eval.NewTable(d.Transactions, x, txfeatures.Names)
			rep, err := eval.Run(ctx, tab, eval.DefaultCandidates(), eval.DefaultConfig())
			if err != nil {
				return err
			}
			for _, m := range rep.Models {
				e := m.TestEstimate
				r.Say("%-8s prequential CP@100 %.3f | test week AUC %.3f, AP %.3f, CP@100 %.3f | over %d test folds AUC %.3f±%.3f, AP %.3f±%.3f, CP@100 %.3f±%.3f",
					m.Name, m.PrequentialCP, m.Test.AUC, m.Test.AP, m.Test.MeanCP, e.Folds, e.AUC.Mean, e.AUC.Std, e.AP.Mean, e.AP.Std, e.CP.Mean, e.CP.Std)
				r.Measure(m.Name+" test card precision@100", float64(m.Test.MeanCP), "")
				r.Measure(m.Name+" test AUC", float64(m.Test.AUC), "")
			}
			for _, w := range rep.Warnings {
				r.Say("warning: %s", w)
			}
			dir, err := os.MkdirTemp("", "fraud-registry-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			champ, logs, err := casestudy.Promote(ctx, dir, nil, "fraud", tab, rep)
			if err != nil {
				return err
			}
			for _, m := range rep.Models {
				for _, g := range logs[m.Name] {
					r.Say("registry: %s v%d promoted to champion: %v", m.Name, g.Version, g.Passed)
				}
			}
			if v, err := casestudy.Version(ctx, dir, "fraud", champ); err == nil {
				r.Say("champion's card, fairness slices of the test week (AUC, rows, frauds):")
				for _, sl := range v.Slices {
					r.Say("  %-8s %-28s AUC %.3f  %6d rows  %4d frauds", sl.Slice, sl.Segment, sl.Metrics[ml.MetricAUC], sl.Rows, sl.Positives)
				}
				r.Check("the champion's version records fairness slices (amount bands, weekend, night) and a global importance",
					len(v.Slices) >= 6 && v.Importance != nil && len(v.Importance.Features) == v.Schema.Len())
			}
			var bestCP, champCP eval.Metric
			for _, m := range rep.Models {
				bestCP = max(bestCP, m.PrequentialCP)
				for _, g := range logs[m.Name] {
					if g.Passed && g.Version == champ {
						champCP = m.PrequentialCP
					}
				}
			}
			r.Check("the registry's gates left a model with the best prequential card precision as champion", champ > 0 && champCP == bestCP)
			ok := true
			for _, m := range rep.Models {
				ok = ok && m.Test.AUC > 0.75
			}
			r.Check("every model ranks fraud far above chance (test AUC > 0.75)", ok)

			r.Step("Choose thresholds for 100 cards a day and recall 0.8, on the newest validation fold")
			th, err := casestudy.Thresholds(tab, rep, decision.DefaultPolicy())
			if err != nil {
				return err
			}
			r.Say("review at ≥ %.4f, decline at ≥ %.4f; validation %.1f flagged cards/day, recall %.3f (target met: %v)",
				th.Thresholds.Review, th.Thresholds.Decline, th.Thresholds.ReviewsPerDay, th.Thresholds.Recall, th.Thresholds.RecallTargetMet)
			r.Say("test days: %.1f flagged cards/day, recall %.3f, %d declines at precision %.3f",
				th.TestReviewsPerDay, th.TestRecall, th.TestDeclines, th.TestDeclinePrecision)
			r.Measure("test flagged cards per day", th.TestReviewsPerDay, "")
			r.Measure("test recall", th.TestRecall, "")
			// The test week is not the validation week: the count drifts, but not by a factor.
			r.Check("flagged cards per day on the test days stay within twice the budget", th.TestReviewsPerDay <= 200)
			return nil
		},
	}
}

func fmtPct(a, b int) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}
