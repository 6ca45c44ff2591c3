package admonitor

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/monitoring"
)

// Report is the monitor's state for a scenario to print: one row per model version.
type Report struct {
	// Watermark is the event time up to which events are taken to have arrived;
	// impressions matured up to Watermark − AttributionWindow (whole buckets).
	Watermark time.Time
	// WaitingClicks are clicks whose impression has not arrived yet (all versions).
	WaitingClicks int
	Rows          []Row
}

// Row is one model version.
type Row struct {
	Model string
	// Window is the sliding window of matured impressions the alert judges; Total is
	// every matured impression.
	Window Stats
	Total  Stats
	// PendingImpressions are not judged yet: younger than the attribution window, or in a
	// bucket whose later impressions are. PendingClicks have been attributed to them.
	PendingImpressions   int64
	PendingClicks        int64
	Clicks               ClickCounts
	DuplicateImpressions int64
	// Alert is the firing calibration alert, nil when none fires.
	Alert *monitoring.Alert
}

// Report returns the statistics of every model version, sorted by version. It judges
// nothing (Evaluate does), so it may be called as often as wanted.
func (m *Monitor) Report() Report {
	m.mu.Lock()
	k := m.matured()
	r := Report{WaitingClicks: len(m.early)}
	if m.started {
		r.Watermark = m.watermark().UTC()
	}
	alerters := make([]*monitoring.Alerter, 0, len(m.versions))
	for _, name := range slices.Sorted(maps.Keys(m.versions)) {
		v := m.versions[name]
		row := Row{Model: name, Clicks: v.clicks, DuplicateImpressions: v.dupImps}
		if k != noBucket {
			w := m.window(v, k)
			tot, pend := m.cumulative(v, k)
			row.Window, row.Total = w.stats(m.cfg.BinEdges, m.cfg.Z), tot.stats(m.cfg.BinEdges, m.cfg.Z)
			row.PendingImpressions, row.PendingClicks = pend.n, pend.clicks
		} else {
			row.Window, row.Total = (&acc{}).stats(nil, m.cfg.Z), (&acc{}).stats(nil, m.cfg.Z)
		}
		r.Rows = append(r.Rows, row)
		alerters = append(alerters, v.alerter)
	}
	m.mu.Unlock()
	for i, a := range alerters { // outside m.mu: the alerter has its own lock
		if a == nil {
			continue
		}
		if f := a.Firing(); len(f) > 0 {
			r.Rows[i].Alert = &f[0]
		}
	}
	return r
}

// String prints the report as a table: per version, the sliding window and the
// cumulative total of matured impressions, then what is pending or unattributed.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "watermark %s, %d clicks waiting for their impression\n", r.Watermark.Format(time.RFC3339), r.WaitingClicks)
	fmt.Fprintf(&b, "%-16s %-6s %9s %7s %8s %8s %6s %15s %7s\n", "model", "window", "impr", "clicks", "ctr", "exp_ctr", "ratio", "interval", "ece")
	for _, row := range r.Rows {
		for _, s := range []struct {
			name string
			st   Stats
		}{{"last", row.Window}, {"total", row.Total}} {
			fmt.Fprintf(&b, "%-16s %-6s %9d %7d %8s %8s %6s %15s %7s\n", row.Model, s.name, s.st.Impressions, s.st.Clicks,
				num(s.st.CTR, 4), num(s.st.ExpectedCTR, 4), num(s.st.Ratio, 3), "["+num(s.st.RatioLow, 3)+", "+num(s.st.RatioHigh, 3)+"]", num(s.st.ECE, 4))
		}
		alert := "ok"
		if row.Alert != nil {
			alert = fmt.Sprintf("FIRING since %s (gap %.3f)", row.Alert.Since.Format(time.RFC3339), row.Alert.Value)
		}
		c := row.Clicks
		fmt.Fprintf(&b, "%-16s pending %d impr %d clicks; clicks unattributed %d (unknown impression %d, outside window %d); duplicates %d clicks %d impr; alert %s\n",
			row.Model, row.PendingImpressions, row.PendingClicks, c.UnknownImpression+c.OutsideWindow, c.UnknownImpression, c.OutsideWindow,
			c.Duplicate, row.DuplicateImpressions, alert)
	}
	return b.String()
}

func num(x float64, prec int) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}
