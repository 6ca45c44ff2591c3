package loadgen

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"

	"github.com/casebook-ml/casebook/platform/plot"
)

// WriteHTML writes a self-contained page (platform/plot): the summary, the errors, the
// SLOs and inline SVG plots of latency over time, request rate over time and the latency
// distribution. It loads nothing from the network.
func (r *Report) WriteHTML(w io.Writer) error {
	p := plot.Page{Title: fmt.Sprintf("loadgen %s loop → %s", r.Mode, r.Target), Subtitle: r.htmlSubtitle()}

	rate := fmt.Sprintf("achieved %.1f/s", r.AchievedRate)
	if r.TargetRate > 0 {
		rate += fmt.Sprintf(" of target %.1f/s (%.1f%%)", r.TargetRate, pct(r.AchievedRate, r.TargetRate))
	}
	summary := plot.KeyValues{
		{Key: "rate", Value: rate},
		{Key: "requests", Value: fmt.Sprintf("scheduled %d, sent %d, ok %d, failed %d, not sent %d", r.Scheduled, r.Sent, r.OK, r.Failed, r.NotSent)},
		{Key: "late sends", Value: fmt.Sprintf("%d more than %g ms behind schedule; send lag p50 %s, p99 %s, max %s",
			r.Late, r.LateAfterMs, fmtMs(r.SendLag.P50Ms), fmtMs(r.SendLag.P99Ms), fmtMs(r.SendLag.MaxMs))},
		{Key: "errors", Value: fmt.Sprintf("%.3f%%", 100*r.ErrorRate)},
	}
	p.Sections = append(p.Sections, plot.Section{Heading: "Summary", Blocks: []plot.Block{summary}})

	if len(r.Errors) > 0 {
		t := plot.Table{Header: []string{"kind", "count"}}
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			t.Rows = append(t.Rows, []string{k, fmt.Sprint(r.Errors[k])})
		}
		p.Sections = append(p.Sections, plot.Section{Heading: "Errors by kind", Blocks: []plot.Block{t}})
	}

	lat := plot.Table{Header: []string{"", "p50", "p90", "p99", "p99.9", "max", "mean"}}
	row := func(name string, l Latency) []string {
		return []string{name, fmtMs(l.P50Ms), fmtMs(l.P90Ms), fmtMs(l.P99Ms), fmtMs(l.P999Ms), fmtMs(l.MaxMs), fmtMs(l.MeanMs)}
	}
	if r.Mode == Closed {
		lat.Rows = append(lat.Rows, row("uncorrected (from actual send): closed loop, uncorrected by construction", r.Uncorrected))
	} else {
		lat.Rows = append(lat.Rows, row("corrected (from intended send)", r.Corrected), row("uncorrected (from actual send)", r.Uncorrected))
	}
	p.Sections = append(p.Sections, plot.Section{Heading: "Latency", Blocks: []plot.Block{lat}})

	if len(r.SLOs) > 0 {
		t := plot.Table{Header: []string{"threshold", "actual", ""}}
		for _, s := range r.SLOs {
			verdict := "met"
			if !s.OK {
				verdict = "MISSED"
			}
			t.Rows = append(t.Rows, []string{s.SLO, s.Actual, verdict})
		}
		p.Sections = append(p.Sections, plot.Section{Heading: "SLOs", Blocks: []plot.Block{t}})
	}

	p.Sections = append(p.Sections, plot.Section{Heading: "Plots", Blocks: []plot.Block{
		plot.Figure{Chart: r.latencyChart(), Caption: fmt.Sprintf("Latency per %g s window, by the time each request was meant to be sent (log scale).", r.WindowS)},
		plot.Figure{Chart: r.rateChart(), Caption: fmt.Sprintf("Requests per second per %g s window.", r.WindowS)},
		plot.Figure{Chart: r.quantileChart(), Caption: "Latency by percentile, on an axis that spaces p90, p99 and p99.9 evenly (log scale)."},
	}})
	p.Sections = append(p.Sections, plot.Section{Heading: "Notes", Blocks: []plot.Block{plot.List(r.Notes)}})
	if err := p.Write(w); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

// htmlSubtitle says how the load was sent.
func (r *Report) htmlSubtitle() string {
	how := fmt.Sprintf("Open loop, %s, %d workers", r.Schedule, r.Concurrency)
	if r.Mode == Closed {
		how = fmt.Sprintf("Closed loop, %d users", r.Concurrency)
		if r.ThinkTimeMs > 0 {
			how += fmt.Sprintf(", think time %g ms", r.ThinkTimeMs)
		}
	}
	return fmt.Sprintf("%s; %g s send window; workload %s (seed %d); started %s.",
		how, r.DurationS, r.Workload, r.Seed, r.Started.Format("2006-01-02 15:04:05 UTC"))
}

func (r *Report) latencyChart() plot.Lines {
	c := plot.Lines{Title: "Latency over time (by intended send time)", XLabel: "seconds into the run", YLabel: "latency (ms)", LogY: true}
	var x, cp99, up99, cp50 []float64
	for _, w := range r.Series {
		if w.Scheduled == 0 {
			continue
		}
		x = append(x, w.StartS+r.WindowS/2)
		cp99 = append(cp99, w.CorrectedP99Ms)
		up99 = append(up99, w.UncorrectedP99Ms)
		cp50 = append(cp50, w.CorrectedP50Ms)
	}
	if r.Mode == Closed {
		c.Series = []plot.Series{
			{Name: "p99 (uncorrected: closed loop)", Color: plot.Blue, X: x, Y: up99},
			{Name: "p50", Color: plot.Grey, X: x, Y: cp50},
		}
		return c
	}
	c.Series = []plot.Series{
		{Name: "p99 corrected", Color: plot.Red, X: x, Y: cp99},
		{Name: "p99 uncorrected", Color: plot.Blue, Dashed: true, X: x, Y: up99},
		{Name: "p50 corrected", Color: plot.Grey, X: x, Y: cp50},
	}
	return c
}

func (r *Report) rateChart() plot.Lines {
	c := plot.Lines{Title: "Requests per second", XLabel: "seconds into the run", YLabel: "requests / s"}
	var x, sched, done, errs []float64
	for _, w := range r.Series {
		x = append(x, w.StartS+r.WindowS/2)
		sched = append(sched, float64(w.Scheduled)/r.WindowS)
		done = append(done, float64(w.Completed)/r.WindowS)
		errs = append(errs, float64(w.Errors)/r.WindowS)
	}
	name := "scheduled (by intended time)"
	if r.Mode == Closed {
		name = "sent (by send time)"
	}
	c.Series = []plot.Series{
		{Name: name, Color: plot.Green, X: x, Y: sched},
		{Name: "answered (by answer time)", Color: plot.Blue, Dashed: true, X: x, Y: done},
		{Name: "errors (by intended time)", Color: plot.Red, X: x, Y: errs},
	}
	return c
}

// quantileChart plots latency against percentile on the usual "nines" axis: x = log10 of
// 1/(1-p), so p50, p90, p99 and p99.9 are evenly spaced.
func (r *Report) quantileChart() plot.Lines {
	c := plot.Lines{Title: "Latency by percentile", XLabel: "percentile", YLabel: "latency (ms)", LogY: true}
	nines := func(p float64) float64 { return math.Log10(100 / (100 - p)) }
	var x, cs, us []float64
	for _, q := range r.Distribution {
		if q.Percentile >= 100 {
			continue
		}
		x = append(x, nines(q.Percentile))
		cs = append(cs, q.CorrectedMs)
		us = append(us, q.UncorrectedMs)
	}
	for _, p := range []struct {
		v     float64
		label string
	}{{0, "0"}, {90, "90"}, {99, "99"}, {99.9, "99.9"}, {99.99, "99.99"}, {99.999, "99.999"}} {
		c.XTicks = append(c.XTicks, plot.Tick{At: nines(p.v), Label: p.label})
	}
	if r.Mode == Closed {
		c.Series = []plot.Series{{Name: "uncorrected (closed loop)", Color: plot.Blue, X: x, Y: us}}
		return c
	}
	c.Series = []plot.Series{
		{Name: "corrected", Color: plot.Red, X: x, Y: cs},
		{Name: "uncorrected", Color: plot.Blue, Dashed: true, X: x, Y: us},
	}
	return c
}
