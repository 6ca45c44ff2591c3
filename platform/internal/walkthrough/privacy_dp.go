package walkthrough

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/casebook-ml/casebook/platform/privacy/dp"
	"github.com/casebook-ml/casebook/platform/scenario"
)

func dpAggregates() scenario.Scenario {
	return scenario.Scenario{
		Name:    "privacy/dp-aggregates",
		Summary: "Daily transaction counts and amount sums released with the Laplace and analytic Gaussian mechanisms at ε = 0.1…8: error against the true values beside theory, clamping, and a budget ledger that refuses a query past its budget.",
		Run:     runDPAggregates,
	}
}

// dpAmountHi is the public clamping bound for one transaction's amount, the sum's
// sensitivity: set from what amounts the business sees, not from this data.
const dpAmountHi = 400

func runDPAggregates(ctx context.Context, r *scenario.Report) error {
	const days, reps = 30, 30
	txs := transactions(17, 60000, 5000, time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), days)
	r.Step("The data: 60,000 card transactions over 30 days (the event-log scenarios' generator)")
	amounts := make([][]float64, days)
	trueSum := make([]float64, days)
	for i, t := range txs {
		// The generator spreads the transactions evenly over the days in order; its event
		// times overflow int64 nanoseconds at this size, so the day comes from the index.
		d := i * days / len(txs)
		amounts[d] = append(amounts[d], t.Amount)
		trueSum[d] += t.Amount
	}
	clamped := 0
	for d := range amounts {
		_, c := dp.Clamp(amounts[d], 0, dpAmountHi)
		clamped += c
	}
	r.Say("released per day: the number of transactions (sensitivity 1) and the sum of amounts clamped to [0, %d] (sensitivity %d); the unit of privacy is one transaction", dpAmountHi, dpAmountHi)
	r.Say("clamping moved %d of %d amounts; each day is a disjoint part of the data, so the 30 daily releases of one query cost its ε once (parallel composition): each day has its own ledger", clamped, len(txs))
	r.Measure("amounts clamped", float64(clamped), "")

	r.Step("Error against the true values, %d releases of each day at each ε (a measurement: a real release is made once)", reps)
	r.Say("theory: E|Laplace(b)| = b = Δ/ε; E|N(0, σ²)| = σ·√(2/π), σ the analytic Gaussian's for (ε, δ = 1e-6)")
	r.Say("%-8s %-9s %12s %12s %10s %12s %12s %10s", "ε", "mechanism", "count MAE", "theory", "rel.", "sum MAE", "theory", "rel.")
	noise := dp.NewSeededNoise(17)
	theoryOK := true
	for _, eps := range []float64{0.1, 0.5, 1, 2, 8} {
		for _, q := range []dp.Query{{Mechanism: dp.Laplace, Epsilon: eps}, {Mechanism: dp.Gaussian, Epsilon: eps, Delta: 1e-6}} {
			var cErr, cRel, sErr, sRel, sNoise float64
			var cScale, sScale float64
			for d := range days {
				// One ledger per day, sized for this measurement's repetitions.
				l, err := dp.NewLedger(fmt.Sprintf("transactions/day-%02d", d), dp.Budget{Epsilon: 2 * reps * eps, Delta: 2 * reps * q.Delta})
				if err != nil {
					return err
				}
				rel := dp.NewReleaser(l, noise)
				n := float64(len(amounts[d]))
				clampedSum, _ := dp.Clamp(amounts[d], 0, dpAmountHi)
				for range reps {
					c, err := rel.Count("count", len(amounts[d]), q)
					if err != nil {
						return err
					}
					s, err := rel.Sum("amount sum", amounts[d], 0, dpAmountHi, q)
					if err != nil {
						return err
					}
					cErr += math.Abs(c.Value - n)
					cRel += math.Abs(c.Value-n) / n
					sErr += math.Abs(s.Value - trueSum[d])
					sRel += math.Abs(s.Value-trueSum[d]) / trueSum[d]
					sNoise += math.Abs(s.Value - clampedSum)
					cScale, sScale = c.Scale, s.Scale
				}
			}
			k := float64(days * reps)
			cErr, cRel, sErr, sRel, sNoise = cErr/k, cRel/k, sErr/k, sRel/k, sNoise/k
			cTh, sTh := cScale, sScale
			if q.Mechanism == dp.Gaussian {
				cTh, sTh = cScale*math.Sqrt(2/math.Pi), sScale*math.Sqrt(2/math.Pi)
			}
			r.Say("%-8g %-9s %12.2f %12.2f %9.3f%% %12.1f %12.1f %9.3f%%", eps, q.Mechanism, cErr, cTh, 100*cRel, sErr, sTh, 100*sRel)
			r.Measure(fmt.Sprintf("%s ε=%g count MAE", q.Mechanism, eps), cErr, "")
			r.Measure(fmt.Sprintf("%s ε=%g sum MAE", q.Mechanism, eps), sErr, "")
			theoryOK = theoryOK && math.Abs(cErr-cTh) <= 0.15*cTh && math.Abs(sNoise-sTh) <= 0.15*sTh
		}
	}
	r.Check("every measured mean absolute error of the noise is within 15% of theory", theoryOK)
	lb, _ := dp.LaplaceScale(1, 1)
	gs, _ := dp.GaussianSigma(1, 1e-6, 1)
	r.Say("at ε = 1 a count's noise has scale b = %.2f (Laplace) or σ = %.2f (analytic Gaussian, δ = 1e-6; the classic formula, valid only below ε = 1, would give %.2f): for one scalar, Laplace is the better choice; the Gaussian pays off for many coordinates at once, where its L2 sensitivity is far below the L1",
		lb, gs, dp.ClassicGaussianSigma(1, 1e-6, 1))

	r.Step("A ledger for the whole month, budget ε = 1, δ = 1e-6: the dashboard's queries spend it, the one past it is refused")
	l, err := dp.NewLedger("transactions/2026-09", dp.Budget{Epsilon: 1, Delta: 1e-6})
	if err != nil {
		return err
	}
	rel := dp.NewReleaser(l, noise)
	var all []float64
	for _, a := range amounts {
		all = append(all, a...)
	}
	c, err := rel.Count("monthly transactions", len(all), dp.Query{Mechanism: dp.Laplace, Epsilon: 0.4})
	if err != nil {
		return err
	}
	r.Say("monthly transactions (Laplace, ε = 0.4): %.0f (true %d)", c.Value, len(all))
	s, err := rel.Sum("monthly amount", all, 0, dpAmountHi, dp.Query{Mechanism: dp.Gaussian, Epsilon: 0.4, Delta: 1e-6})
	if err != nil {
		return err
	}
	var tot float64
	for _, v := range trueSum {
		tot += v
	}
	r.Say("monthly amount (Gaussian, ε = 0.4, δ = 1e-6): %.0f (true %.0f; %d amounts clamped)", s.Value, tot, s.Clamped)
	m, err := rel.Mean("mean amount", all, 0, dpAmountHi, dp.Query{Mechanism: dp.Laplace, Epsilon: 0.2})
	if err != nil {
		return err
	}
	r.Say("mean amount (Laplace, ε = 0.2 split between a noisy sum and a noisy count): %.2f (true %.2f)", m.Value, tot/float64(len(all)))
	before := l.Spent()
	_, err = rel.Count("one more count", len(all), dp.Query{Mechanism: dp.Laplace, Epsilon: 0.1})
	r.Say("a fourth query (ε = 0.1): %v", err)
	r.Check("the query past the budget is refused with ErrBudgetExceeded", errors.Is(err, dp.ErrBudgetExceeded))
	r.Check("the refused query spent nothing", l.Spent() == before)
	rec, err := json.Marshal(l.Record())
	if err != nil {
		return err
	}
	r.Say("the ledger's record, for the audit trail: %s", rec)
	r.Measure("month ledger ε spent", l.Spent().Epsilon, "")

	r.Step("The same budget (ε = 1, δ = 1e-5) composed two ways: how many Gaussian counts at ε = 0.1, δ = 1e-7 fit")
	admitted := map[dp.Composition]int{}
	for _, comp := range []dp.Composition{dp.Basic, dp.RDP} {
		l, err := dp.NewLedgerWith("transactions/2026-09", dp.Budget{Epsilon: 1, Delta: 1e-5}, comp)
		if err != nil {
			return err
		}
		rel := dp.NewReleaser(l, noise)
		for admitted[comp] < 1000 {
			_, err := rel.Count("count", len(all), dp.Query{Mechanism: dp.Gaussian, Epsilon: 0.1, Delta: 1e-7})
			if errors.Is(err, dp.ErrBudgetExceeded) {
				break
			}
			if err != nil {
				return err
			}
			admitted[comp]++
		}
		sp := l.Spent()
		r.Say("%-5s composition: %d queries admitted, spent ε = %.3f at δ = %g", comp, admitted[comp], sp.Epsilon, sp.Delta)
		r.Measure(string(comp)+" queries admitted", float64(admitted[comp]), "")
	}
	r.Check("RDP composition admits at least three times the queries basic composition does, within the same (ε, δ)", admitted[dp.RDP] >= 3*admitted[dp.Basic])
	return nil
}
