package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/platform/plot"
)

func summarySection(d Data) plot.Section {
	s := plot.Section{Heading: "Summary"}
	if len(d.Summary) == 0 {
		s.Blocks = append(s.Blocks, plot.Note("No headline numbers were recorded for this run."))
	} else {
		kv := make(plot.KeyValues, len(d.Summary))
		for i, x := range d.Summary {
			kv[i] = plot.KV{Key: x.Key, Value: x.Value}
		}
		s.Blocks = append(s.Blocks, kv)
	}
	if len(d.Notes) > 0 {
		s.Blocks = append(s.Blocks, plot.Paragraph("Notes on this run:"), plot.List(d.Notes))
	}
	return s
}

func (t Thresholds) markers() []plot.Marker {
	var m []plot.Marker
	if t.Review > 0 {
		m = append(m, plot.Marker{X: t.Review, Label: "review ≥ " + score(t.Review), Color: plot.Orange})
	}
	if t.Decline > 0 {
		m = append(m, plot.Marker{X: t.Decline, Label: "decline ≥ " + score(t.Decline), Color: plot.Black})
	}
	return m
}

func scoresSection(sc Scores, th Thresholds, private bool) plot.Section {
	if private {
		return plot.Section{Heading: "Score distributions", Blocks: []plot.Block{plot.Note(
			"Withheld: this report is differentially private and the per-transaction scores are not released " +
				"through its privacy ledger. Run the scenario with the report's privacy off to see them.")}}
	}
	fraud, badF := finiteSorted(sc.Fraud)
	legit, badL := finiteSorted(sc.Legit)
	series := []plot.HistSeries{
		{Name: fmt.Sprintf("fraud (%s)", count(len(fraud))), Values: sc.Fraud, Color: plot.Red},
		{Name: fmt.Sprintf("legitimate (%s)", count(len(legit))), Values: sc.Legit, Color: plot.Blue},
	}
	// Model scores are probabilities; anything else gets bins fitted to its range.
	var edges []float64
	if all := append(slices.Clone(fraud), legit...); len(all) > 0 && slices.Min(all) >= 0 && slices.Max(all) <= 1 {
		edges = plot.LinearEdges(0, 1, 40)
	}
	s := plot.Section{Heading: "Score distributions"}
	s.Blocks = append(s.Blocks, plot.Paragraph(
		"The model gives every transaction a score; higher means more likely fraud. Here are the "+
			"scores of the transactions whose true label later became known, split by that label. "+
			"A good model puts the red bars (fraud) to the right and the blue bars (legitimate) to the left."))
	if len(fraud)+len(legit) == 0 {
		s.Blocks = append(s.Blocks, plot.Note("No scored transaction with a known label was recorded, so there is no distribution to show."))
	}
	s.Blocks = append(s.Blocks,
		plot.Figure{
			Chart: plot.Histogram{
				Title: "Score distribution by true label (each group sums to 100%)", XLabel: "model score", YLabel: "share of group",
				Series: series, Edges: edges, Bins: 40, Normalize: true, Markers: th.markers(),
			},
			Caption: "Each colour shows where its own group's scores fall, so the rare fraud cases are as visible as " +
				"the many legitimate ones. The dashed lines are the decision thresholds: a transaction scoring at or " +
				"right of the orange line goes to manual review, at or right of the black line it is declined. Red to " +
				"the right of a line is fraud caught; blue to the right of it is a customer wrongly stopped; red to " +
				"the left is fraud that got through.",
		},
		plot.Figure{
			Chart: plot.Histogram{
				Title: "Score distribution by true label (counts, log scale)", XLabel: "model score", YLabel: "transactions",
				Series: series, Edges: edges, Bins: 40, LogY: true, Markers: th.markers(),
			},
			Caption: "The same scores as plain counts. The vertical axis is logarithmic (each grid line is ten times the " +
				"one below), so that a few hundred frauds and a hundred thousand legitimate payments fit on one chart. " +
				"The blue bars right of a threshold are the real workload of false alarms.",
		},
	)
	if th.Review > 0 || th.Decline > 0 {
		tbl := plot.Table{
			Caption: "Share of each group at or above each threshold",
			Header:  []string{"true label", "transactions"},
		}
		var cuts []float64
		for _, m := range th.markers() {
			tbl.Header = append(tbl.Header, m.Label)
			cuts = append(cuts, m.X)
		}
		for _, g := range []struct {
			name string
			vs   []float64
		}{{"fraud", fraud}, {"legitimate", legit}} {
			row := []string{g.name, count(len(g.vs))}
			for _, c := range cuts {
				row = append(row, pct(shareAtLeast(g.vs, c)))
			}
			tbl.Rows = append(tbl.Rows, row)
		}
		s.Blocks = append(s.Blocks, tbl, plot.Paragraph(
			"The fraud row is the recall at each threshold: the share of fraud it catches. The legitimate row is the "+
				"false-positive rate: the share of honest customers it stops."))
	}
	if badF+badL > 0 {
		s.Blocks = append(s.Blocks, plot.Note(fmt.Sprintf("%d scores were not numbers (NaN or infinite) and are left out.", badF+badL)))
	}
	return s
}

func dailySection(days []Day, priv *PrivacyInfo) plot.Section {
	s := plot.Section{Heading: "Precision and recall per day"}
	s.Blocks = append(s.Blocks, plot.Paragraph(
		"Days are event days: the day the payment happened, not the day its label arrived. Recall is the share of "+
			"that day's frauds the system flagged (sent to review or declined); precision is the share of flagged "+
			"payments that really were fraud. Raising a threshold usually trades recall for precision."))
	if priv != nil {
		s.Blocks = append(s.Blocks, plot.Note(
			"Every count and amount in this section is a differentially private release (see Privacy above), and "+
				"precision and recall are computed from those noisy counts, never from the true ones. A refused "+
				"query shows as \"refused\"; a rate that needs it shows as a dash."))
	}
	if len(days) == 0 {
		s.Blocks = append(s.Blocks, plot.Note("No labelled days were recorded, so precision and recall cannot be shown."))
	}
	noPrec := priv.Refused(QueryFlagged) || priv.Refused(QueryTruePositives)
	noRec := priv.Refused(QueryFrauds) || priv.Refused(QueryTruePositives)
	prec1 := func(d Day) float64 {
		if noPrec {
			return math.NaN()
		}
		return d.Precision()
	}
	rec1 := func(d Day) float64 {
		if noRec {
			return math.NaN()
		}
		return d.Recall()
	}
	dates := make([]time.Time, len(days))
	prec := make([]float64, len(days))
	rec := make([]float64, len(days))
	for i, d := range days {
		dates[i], prec[i], rec[i] = d.Date, prec1(d), rec1(d)
	}
	s.Blocks = append(s.Blocks, plot.Figure{
		Chart: plot.Lines{
			Title: "Precision and recall by event day", XLabel: "event day", YLabel: "share",
			Points: true, YMin: 0, YMax: 1,
			Series: []plot.Series{
				{Name: "recall (frauds caught)", T: dates, Y: rec, Color: plot.Orange},
				{Name: "precision (flags that were fraud)", T: dates, Y: prec, Color: plot.Purple},
			},
		},
		Caption: "Each dot is one day. Higher is better for both lines. A gap means the value is undefined that day " +
			"(no fraud, or nothing flagged). Days with few frauds swing a lot: one missed fraud out of five is a 20-point drop.",
	})
	if len(days) > 0 {
		amounts := priv != nil
		for _, d := range days {
			amounts = amounts || d.Amount != 0
		}
		hdr := []string{"day", "transactions", "frauds", "flagged", "frauds flagged", "precision", "recall"}
		if amounts {
			hdr = append(hdr, "amount")
		}
		tbl := plot.Table{Header: hdr}
		cell := func(query string, n int) string {
			if priv.Refused(query) {
				return "refused"
			}
			return count(n)
		}
		for _, d := range days {
			row := []string{
				d.Date.Format("2006-01-02"), cell(QueryTransactions, d.Transactions), cell(QueryFrauds, d.Frauds),
				cell(QueryFlagged, d.Flagged), cell(QueryTruePositives, d.TruePositives), pct(prec1(d)), pct(rec1(d)),
			}
			if amounts {
				row = append(row, cell(QueryAmount, int(math.Round(d.Amount))))
			}
			tbl.Rows = append(tbl.Rows, row)
		}
		s.Blocks = append(s.Blocks, tbl)
	}
	return s
}

// privacySection says whether the numbers are exact or private, and for a private report
// the budget, each query's ε and noise scale, the refusals and the ledger's record.
func privacySection(p *PrivacyInfo) plot.Section {
	s := plot.Section{Heading: "Privacy"}
	if p == nil {
		s.Blocks = append(s.Blocks, plot.Note(
			"Exact numbers, not differentially private: the counts, amounts and scores below are the true values "+
				"of the run. Do not publish this report outside the team that may see individual transactions."))
		return s
	}
	s.Blocks = append(s.Blocks, plot.Paragraph(fmt.Sprintf(
		"The per-day counts and amounts in this report are differentially private: each was released with %s "+
			"noise through a privacy ledger for this report (dataset %q) holding a budget of ε = %g, δ = %g. "+
			"This report spent ε = %s, δ = %g. The privacy unit is one transaction: the report's numbers change "+
			"little whether or not any single transaction is in the data. Each query is one column over the event "+
			"days; a transaction falls on exactly one day, so by parallel composition a column costs its ε once, "+
			"not once per day. The columns add up (basic composition). Amounts are clamped to [0, %g] per "+
			"transaction, a public bound, before summing. Noise scale b is the mean absolute error of each "+
			"released value before rounding.",
		p.Mechanism, p.Dataset, p.Budget.Epsilon, p.Budget.Delta, score(p.Spent.Epsilon), p.Spent.Delta, p.AmountCap)))
	tbl := plot.Table{Header: []string{"query", "ε asked", "noise scale b", "outcome"}}
	var refused []string
	for _, q := range p.Queries {
		out, b := "released", strconv.FormatFloat(q.Scale, 'g', 4, 64)
		if q.Refused != "" {
			out, b = "refused", "–"
			refused = append(refused, q.Refused)
		}
		tbl.Rows = append(tbl.Rows, []string{q.Name, score(q.Epsilon), b, out})
	}
	s.Blocks = append(s.Blocks, tbl)
	for _, r := range refused {
		s.Blocks = append(s.Blocks, plot.Note("Refused by the privacy ledger, so not shown: "+r))
	}
	s.Blocks = append(s.Blocks,
		plot.Paragraph("Score distributions are withheld. Latency is the system's timing, not customer data, and is exact. "+
			"The ledger's record (platform/privacy/dp), which dp.Restore reads back to audit or continue the budget:"),
		plot.Code(string(p.Record)))
	return s
}

func latencySection(samples []float64, overTime []LatencyPoint) plot.Section {
	s := plot.Section{Heading: "Decision latency"}
	s.Blocks = append(s.Blocks, plot.Paragraph(
		"Latency is the time from a transaction being published to its decision being available: what a "+
			"payment terminal would wait. Most decisions are fast; the few slow ones (the tail, summarised by p99: "+
			"99% of decisions were at least this fast) are what an SLO is about."))
	sorted, bad := finiteSorted(samples)
	if len(sorted) == 0 {
		s.Blocks = append(s.Blocks, plot.Note("No latency samples were recorded."))
	}
	p50, p99 := quantile(sorted, 0.5), quantile(sorted, 0.99)
	h := plot.Histogram{Title: "Decision latency distribution", XLabel: "milliseconds", YLabel: "decisions", Series: []plot.HistSeries{
		{Name: "decisions", Values: samples, Color: plot.Green},
	}}
	caption := "The height of each bar is the number of decisions that took that long."
	if len(sorted) > 0 {
		// The slowest half-percent would stretch the axis until the body is one bar; the table has them.
		hi := quantile(sorted, 0.995)
		if hi <= sorted[0] {
			hi = sorted[0] + 1
		}
		h.Edges = plot.LinearEdges(0, hi, 40)
		if sorted[0] < 0 {
			h.Edges = plot.LinearEdges(sorted[0], hi, 40)
		}
		h.Markers = []plot.Marker{
			{X: p50, Label: "p50 " + millis(p50), Color: plot.Blue},
			{X: p99, Label: "p99 " + millis(p99), Color: plot.Red},
		}
		caption += " The dashed lines mark the median (p50) and the 99th percentile (p99). The slowest 0.5% " +
			"are beyond the right edge and counted in the note under the chart; the table gives their maximum."
	}
	s.Blocks = append(s.Blocks, plot.Figure{Chart: h, Caption: caption})
	if len(sorted) > 0 {
		sum := 0.0
		for _, v := range sorted {
			sum += v
		}
		s.Blocks = append(s.Blocks, plot.Table{
			Caption: "Latency percentiles",
			Header:  []string{"samples", "mean", "p50", "p90", "p99", "p99.9", "max"},
			Rows: [][]string{{
				count(len(sorted)), millis(sum / float64(len(sorted))), millis(p50), millis(quantile(sorted, 0.9)),
				millis(p99), millis(quantile(sorted, 0.999)), millis(sorted[len(sorted)-1]),
			}},
		})
	}
	if bad > 0 {
		s.Blocks = append(s.Blocks, plot.Note(fmt.Sprintf("%d latency samples were not numbers and are left out.", bad)))
	}
	if len(overTime) > 0 {
		ts := make([]time.Time, len(overTime))
		p50s, p99s := make([]float64, len(overTime)), make([]float64, len(overTime))
		for i, p := range overTime {
			ts[i], p50s[i], p99s[i] = p.At, p.P50, p.P99
		}
		s.Blocks = append(s.Blocks, plot.Figure{
			Chart: plot.Lines{
				Title: "Latency percentiles over the run", XLabel: "wall-clock time", YLabel: "milliseconds",
				Series: []plot.Series{
					{Name: "p99", T: ts, Y: p99s, Color: plot.Red},
					{Name: "p50", T: ts, Y: p50s, Color: plot.Blue},
				},
			},
			Caption: "Latency through the run. A p99 that climbs while p50 stays flat usually means queueing: " +
				"the system fell behind for a while and the waiting shows up only in the slowest decisions.",
		})
	}
	return s
}

func pathsSection(total map[string]int, days []Day, priv *PrivacyInfo) plot.Section {
	s := plot.Section{Heading: "Decisions by path"}
	s.Blocks = append(s.Blocks, plot.Paragraph(
		"Each decision is made either by the model or, when the model or its features are unavailable or too "+
			"slow, by the fallback rules. Rules keep payments flowing but catch less fraud, so a rise in rule "+
			"decisions explains a dip in recall."))
	if priv.Refused(QueryPaths) {
		s.Blocks = append(s.Blocks, plot.Note("Refused by the report's privacy ledger: no decisions by path are shown."))
		return s
	}
	if priv != nil {
		s.Blocks = append(s.Blocks, plot.Note("Differentially private: each day's count per path is a noisy release, "+
			"and the whole-run totals are the sums of those noisy counts."))
	}
	names := slices.Sorted(maps.Keys(total))
	vals := make([]float64, len(names))
	sum := 0
	for i, n := range names {
		vals[i] = float64(total[n])
		sum += total[n]
	}
	if len(names) == 0 {
		s.Blocks = append(s.Blocks, plot.Note("No decisions by path were recorded."))
	}
	s.Blocks = append(s.Blocks, plot.Figure{
		Chart: plot.Bars{
			Title: "Decisions by path, whole run", YLabel: "decisions", Categories: names, ValueLabels: true,
			Series: []plot.BarSeries{{Name: "decisions", Values: vals, Color: plot.Green}},
		},
		Caption: "The number of decisions each path made over the run.",
	})
	if sum > 0 {
		kv := plot.KeyValues{}
		for _, n := range names {
			kv = append(kv, plot.KV{Key: n, Value: fmt.Sprintf("%s (%s)", count(total[n]), pct(float64(total[n])/float64(sum)))})
		}
		s.Blocks = append(s.Blocks, kv)
	}
	// Per day, when the days carry their own split.
	seen := map[string]bool{}
	for _, d := range days {
		for p := range d.Paths {
			seen[p] = true
		}
	}
	if len(seen) == 0 {
		return s
	}
	paths := slices.Sorted(maps.Keys(seen))
	cats := make([]string, len(days))
	series := make([]plot.BarSeries, len(paths))
	for j, p := range paths {
		series[j] = plot.BarSeries{Name: p, Values: make([]float64, len(days)), Color: pathColors[j%len(pathColors)]}
	}
	for i, d := range days {
		cats[i] = d.Date.Format("Jan 2")
		for j, p := range paths {
			series[j].Values[i] = float64(d.Paths[p])
		}
	}
	s.Blocks = append(s.Blocks, plot.Figure{
		Chart: plot.Bars{Title: "Decisions by path per event day", YLabel: "decisions", Categories: cats, Series: series},
		Caption: "One group of bars per day, one bar per path. A day where the rules bar grows is a day the model " +
			"was often unavailable; compare it with that day's recall above.",
	})
	return s
}

// pathColors avoid red and blue, which mean fraud and legitimate in the score charts.
var pathColors = []string{plot.Green, plot.Orange, plot.Purple, plot.Sky, plot.Grey}
