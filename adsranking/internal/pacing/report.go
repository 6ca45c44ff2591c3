package pacing

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/casebook-ml/casebook/platform/plot"
)

// summaryHeader names the columns of Summary.row.
func summaryHeader() []string {
	return []string{"strategy", "ledger", "mean |spend−plan|", "max overspend", "> 1% over", "exhausted < 20:00",
		"billed / budget", "value / spend", "CPM", "unbillable", "late reports"}
}

// SummaryTable is the comparison table, one row per run, for an HTML report.
func (r Result) SummaryTable() plot.Table {
	t := plot.Table{
		Caption: "Pacing strategies over a simulated day: |spend − plan| is the mean over the day and the campaigns, in % of budget; overspend is billed over budget",
		Header:  summaryHeader(),
	}
	for _, run := range r.Runs {
		t.Rows = append(t.Rows, run.Summary.row())
	}
	return t
}

func (s Summary) row() []string {
	return []string{
		string(s.Strategy), s.Mode.String(),
		fmt.Sprintf("%.1f%%", 100*s.MeanDeviation),
		fmt.Sprintf("%.2f%%", 100*s.MaxOverspend),
		fmt.Sprintf("%d", s.Overspenders),
		fmt.Sprintf("%.0f%%", 100*s.ExhaustedEarly),
		fmt.Sprintf("%.1f%%", 100*s.Delivery),
		fmt.Sprintf("%.2f", s.ValuePerSpend),
		fmt.Sprintf("%.2f", s.CPM),
		fmt.Sprintf("%.2f%%", 100*s.Unbillable),
		fmt.Sprintf("%d", s.Late),
	}
}

// FormatSummary is the comparison table as aligned text.
func (r Result) FormatSummary() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(summaryHeader(), "\t")+"\t")
	for _, run := range r.Runs {
		fmt.Fprintln(tw, strings.Join(run.Summary.row(), "\t")+"\t")
	}
	tw.Flush()
	return b.String()
}

// pick returns up to k campaign positions spread from the tightest budget (smallest share
// of its unpaced demand) to the loosest, the same in every chart.
func (r Result) pick(k int) []int {
	idx := make([]int, len(r.Campaigns))
	for i := range idx {
		idx[i] = i
	}
	share := func(i int) float64 { return r.Campaigns[i].Budget / r.Campaigns[i].Unpaced }
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(share(a), share(b)) })
	k = min(k, len(idx))
	if k <= 0 {
		return nil
	}
	out := make([]int, 0, k)
	for j := range k {
		pos := 0
		if k > 1 {
			pos = j * (len(idx) - 1) / (k - 1)
		}
		out = append(out, idx[pos])
	}
	return out
}

// chartStep is the resolution of the charts: every 5 minutes is plenty for a day.
const chartStep = 5

func (r Result) times() []time.Time {
	var ts []time.Time
	for m := 0; m <= minutesPerDay; m += chartStep {
		ts = append(ts, r.Config.DayStart.Add(time.Duration(m)*time.Minute))
	}
	return ts
}

// SpendCharts draws, per run, the cumulative spend (bought at impression time) of k
// campaigns against the plan, both in % of each campaign's budget so they share one axis:
// the plan is then one curve for all, the forecast's cumulative share of the day's traffic.
// The campaigns go from the tightest budget relative to demand to the loosest.
func (r Result) SpendCharts(k int) []plot.Lines {
	picked := r.pick(k)
	ts := r.times()
	var charts []plot.Lines
	for _, run := range r.Runs {
		plan := make([]float64, len(ts))
		for i := range ts {
			plan[i] = 100 * r.Config.Forecast.CumulativeShare(time.Duration(i*chartStep)*time.Minute)
		}
		ch := plot.Lines{
			Title:  fmt.Sprintf("%s pacing, %s: cumulative spend vs plan", run.Strategy, run.Mode),
			XLabel: "time of day (UTC)", YLabel: "% of daily budget",
			YMin: 0, YMax: 105,
			Series: []plot.Series{{Name: "plan", T: ts, Y: plan, Color: plot.Black, Dashed: true}},
		}
		for _, i := range picked {
			c, sc := run.Campaigns[i], r.Campaigns[i]
			y := make([]float64, len(ts))
			for j := 1; j < len(ts); j++ {
				y[j] = 100 * c.Cumulative[j*chartStep-1] / c.Budget
			}
			ch.Series = append(ch.Series, plot.Series{
				Name: fmt.Sprintf("campaign %d (budget %.0f%% of demand)", c.ID, 100*sc.Budget/sc.Unpaced),
				T:    ts, Y: y,
			})
		}
		charts = append(charts, ch)
	}
	return charts
}

// ControlCharts draws, per run of a pacing strategy, the control of k campaigns over the
// day: the participation rate (throttle) or the bid multiplier (PID).
func (r Result) ControlCharts(k int) []plot.Lines {
	picked := r.pick(k)
	ts := r.times()
	var charts []plot.Lines
	for _, run := range r.Runs {
		label := ""
		switch run.Strategy {
		case StrategyThrottle:
			label = "participation rate"
		case StrategyPID:
			label = "bid multiplier"
		default:
			continue
		}
		ch := plot.Lines{
			Title:  fmt.Sprintf("%s pacing, %s: %s", run.Strategy, run.Mode, label),
			XLabel: "time of day (UTC)", YLabel: label, YMin: 0, YMax: 1,
		}
		for _, i := range picked {
			c := run.Campaigns[i]
			y := make([]float64, len(ts))
			for j := range ts {
				y[j] = c.Control[min(j*chartStep, minutesPerDay-1)]
			}
			ch.Series = append(ch.Series, plot.Series{Name: fmt.Sprintf("campaign %d", c.ID), T: ts, Y: y})
		}
		charts = append(charts, ch)
	}
	return charts
}
