package loadgen

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
)

// WriteHTML writes a self-contained page: the summary, the errors, the SLOs and inline SVG
// plots of latency over time, request rate over time and the latency distribution. It loads
// nothing from the network.
func (r *Report) WriteHTML(w io.Writer) error {
	type kv struct {
		K string
		V int64
	}
	data := struct {
		R                        *Report
		Title                    string
		Errors                   []kv
		Latency, Rate, Quantiles template.HTML
		AchievedPct              float64
		ErrorPct                 float64
	}{
		R:           r,
		Title:       fmt.Sprintf("loadgen %s loop → %s", r.Mode, r.Target),
		AchievedPct: pct(r.AchievedRate, r.TargetRate),
		ErrorPct:    100 * r.ErrorRate,
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		data.Errors = append(data.Errors, kv{k, r.Errors[k]})
	}
	// The SVG is built from numbers and escaped labels only.
	data.Latency = template.HTML(r.latencyChart().svg())
	data.Rate = template.HTML(r.rateChart().svg())
	data.Quantiles = template.HTML(r.quantileChart().svg())
	if err := reportPage.Execute(w, data); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

func (r *Report) latencyChart() chart {
	c := chart{title: "Latency over time (by intended send time)", xLabel: "seconds into the run", yLabel: "latency", logY: true}
	var cp99, up99, cp50 []pt
	for _, w := range r.Series {
		if w.Scheduled == 0 {
			continue
		}
		x := w.StartS + r.WindowS/2
		cp99 = append(cp99, pt{x, w.CorrectedP99Ms})
		up99 = append(up99, pt{x, w.UncorrectedP99Ms})
		cp50 = append(cp50, pt{x, w.CorrectedP50Ms})
	}
	if r.Mode == Closed {
		c.series = []plotSeries{
			{name: "p99 (uncorrected: closed loop)", color: "#1f77b4", pts: up99},
			{name: "p50", color: "#999999", pts: cp50},
		}
		return c
	}
	c.series = []plotSeries{
		{name: "p99 corrected", color: "#d62728", pts: cp99},
		{name: "p99 uncorrected", color: "#1f77b4", dashed: true, pts: up99},
		{name: "p50 corrected", color: "#999999", pts: cp50},
	}
	return c
}

func (r *Report) rateChart() chart {
	c := chart{title: "Requests per second", xLabel: "seconds into the run", yLabel: "requests / s"}
	var sched, done, errs []pt
	for _, w := range r.Series {
		x := w.StartS + r.WindowS/2
		sched = append(sched, pt{x, float64(w.Scheduled) / r.WindowS})
		done = append(done, pt{x, float64(w.Completed) / r.WindowS})
		errs = append(errs, pt{x, float64(w.Errors) / r.WindowS})
	}
	name := "scheduled (by intended time)"
	if r.Mode == Closed {
		name = "sent (by send time)"
	}
	c.series = []plotSeries{
		{name: name, color: "#2ca02c", pts: sched},
		{name: "answered (by answer time)", color: "#1f77b4", dashed: true, pts: done},
		{name: "errors (by intended time)", color: "#d62728", pts: errs},
	}
	return c
}

// quantileChart plots latency against percentile on the usual "nines" axis: x = log10 of
// 1/(1-p), so p50, p90, p99 and p99.9 are evenly spaced.
func (r *Report) quantileChart() chart {
	c := chart{title: "Latency by percentile", xLabel: "percentile", yLabel: "latency", logY: true, legendLeft: true}
	nines := func(p float64) float64 { return math.Log10(100 / (100 - p)) }
	var cs, us []pt
	for _, q := range r.Distribution {
		if q.Percentile >= 100 {
			continue
		}
		cs = append(cs, pt{nines(q.Percentile), q.CorrectedMs})
		us = append(us, pt{nines(q.Percentile), q.UncorrectedMs})
	}
	for _, p := range []struct {
		v     float64
		label string
	}{{0, "0"}, {90, "90"}, {99, "99"}, {99.9, "99.9"}, {99.99, "99.99"}, {99.999, "99.999"}} {
		c.xTicks = append(c.xTicks, tick{nines(p.v), p.label})
	}
	if r.Mode == Closed {
		c.series = []plotSeries{{name: "uncorrected (closed loop)", color: "#1f77b4", pts: us}}
		return c
	}
	c.series = []plotSeries{
		{name: "corrected", color: "#d62728", pts: cs},
		{name: "uncorrected", color: "#1f77b4", dashed: true, pts: us},
	}
	return c
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{"ms": fmtMs}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:820px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}.miss{color:#b00;font-weight:bold}.ok{color:#070}
.note{color:#555;font-size:90%}svg{margin:8px 0;max-width:100%;height:auto}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{if eq .R.Mode "closed"}}<strong>Closed loop</strong>, {{.R.Concurrency}} users{{if .R.ThinkTimeMs}}, think time {{.R.ThinkTimeMs}} ms{{end}}{{else}}Open loop, {{.R.Schedule}}, {{.R.Concurrency}} workers{{end}};
{{.R.DurationS}} s send window; workload {{.R.Workload}} (seed {{.R.Seed}}); started {{.R.Started.Format "2006-01-02 15:04:05 UTC"}}.</p>
<table>
<tr><th>rate</th><td>achieved {{printf "%.1f" .R.AchievedRate}}/s{{if .R.TargetRate}} of target {{printf "%.1f" .R.TargetRate}}/s ({{printf "%.1f" .AchievedPct}}%){{end}}</td></tr>
<tr><th>requests</th><td>scheduled {{.R.Scheduled}}, sent {{.R.Sent}}, ok {{.R.OK}}, failed {{.R.Failed}}, not sent {{.R.NotSent}}</td></tr>
<tr><th>late sends</th><td>{{.R.Late}} more than {{.R.LateAfterMs}} ms behind schedule; send lag p50 {{ms .R.SendLag.P50Ms}}, p99 {{ms .R.SendLag.P99Ms}}, max {{ms .R.SendLag.MaxMs}}</td></tr>
<tr><th>errors</th><td>{{printf "%.3f" .ErrorPct}}%</td></tr>
</table>
{{if .Errors}}<h2>Errors by kind</h2><table><tr><th>kind</th><th>count</th></tr>
{{range .Errors}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}</table>{{end}}
<h2>Latency</h2>
<table><tr><th></th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>
{{if ne .R.Mode "closed"}}<tr><td>corrected (from intended send)</td><td>{{ms .R.Corrected.P50Ms}}</td><td>{{ms .R.Corrected.P90Ms}}</td><td>{{ms .R.Corrected.P99Ms}}</td><td>{{ms .R.Corrected.P999Ms}}</td><td>{{ms .R.Corrected.MaxMs}}</td><td>{{ms .R.Corrected.MeanMs}}</td></tr>{{end}}
<tr><td>uncorrected (from actual send){{if eq .R.Mode "closed"}}: closed loop, uncorrected by construction{{end}}</td><td>{{ms .R.Uncorrected.P50Ms}}</td><td>{{ms .R.Uncorrected.P90Ms}}</td><td>{{ms .R.Uncorrected.P99Ms}}</td><td>{{ms .R.Uncorrected.P999Ms}}</td><td>{{ms .R.Uncorrected.MaxMs}}</td><td>{{ms .R.Uncorrected.MeanMs}}</td></tr>
</table>
{{if .R.SLOs}}<h2>SLOs</h2><table><tr><th>threshold</th><th>actual</th><th></th></tr>
{{range .R.SLOs}}<tr><td>{{.SLO}}</td><td>{{.Actual}}</td><td>{{if .OK}}<span class="ok">met</span>{{else}}<span class="miss">MISSED</span>{{end}}</td></tr>{{end}}</table>{{end}}
{{.Latency}}
{{.Rate}}
{{.Quantiles}}
<h2>Notes</h2><ul class="note">{{range .R.Notes}}<li>{{.}}</li>{{end}}</ul>
</body></html>
`))
