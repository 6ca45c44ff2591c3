package admonitor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Click and impression results, the result label of the counters and the fields of
// ClickCounts.
const (
	ResultCounted           = "counted"            // impression: first report of its id
	ResultAttributed        = "attributed"         // click: credited to its impression
	ResultDuplicate         = "duplicate"          // impression or click id seen already: counted once
	ResultUnknownImpression = "unknown_impression" // click: its impression never arrived (or was forgotten)
	ResultOutsideWindow     = "outside_window"     // click: more than AttributionWindow after its impression
)

// Windows, the window label of the gauges.
const (
	WindowSliding    = "sliding"
	WindowCumulative = "cumulative"
)

// metrics are the monitor's Prometheus series. The model label is the model version the
// bidder logged ("ads-pctr/v3"): bounded by the registry, never a request or ad id.
//
//	ads_monitor_impressions_total{model,result}          counted, duplicate; on arrival, matured or not
//	ads_monitor_clicks_total{model,result}               attributed, duplicate, unknown_impression, outside_window
//	ads_monitor_expected_clicks_total{model}             Σ pctr of counted impressions, on arrival
//	ads_monitor_calibration_ratio{model,window}          observed/expected clicks of matured impressions (sliding, cumulative)
//	ads_monitor_calibration_gap{model}                   the alert's signal (Stats.Gap of the sliding window)
//	ads_monitor_ece{model,window}                        expected calibration error of matured impressions
//	ads_monitor_calibration_alert{model}                 1 while the calibration alert fires
//
// The counters count on arrival, so rate(clicks)/rate(expected) over a short range is
// biased low by the clicks still to come; the ratio gauge, over matured impressions only,
// is the one to read and is what the alert judges.
//
// The platform's monitoring.Metrics are not reused: they are registered once per process
// as a whole set, label versions as registry integers, and have no series for expected
// clicks or calibration. The alert gauge is ours for the same reason; the Alerter's own
// series live on an unregistered monitoring.Metrics.
type metrics struct {
	impressions *prometheus.CounterVec
	clicks      *prometheus.CounterVec
	expected    *prometheus.CounterVec
	ratio       *prometheus.GaugeVec
	gap         *prometheus.GaugeVec
	ece         *prometheus.GaugeVec
	alert       *prometheus.GaugeVec
}

// newMetrics creates the series and registers them on reg (nil: not exported).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		impressions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ads_monitor_impressions_total", Help: "Impressions seen by the ad monitor, by result (counted, duplicate)."}, []string{"model", "result"}),
		clicks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ads_monitor_clicks_total",
			Help: "Clicks seen by the ad monitor, by result (attributed, duplicate, unknown_impression, outside_window)."}, []string{"model", "result"}),
		expected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ads_monitor_expected_clicks_total", Help: "Sum of the predicted click probabilities of counted impressions."}, []string{"model"}),
		ratio: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ads_monitor_calibration_ratio",
			Help: "Observed over expected clicks of matured impressions (sliding window, cumulative); 1 is calibrated."}, []string{"model", "window"}),
		gap: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ads_monitor_calibration_gap",
			Help: "Widest band around 1 the sliding window's ratio interval excludes; the calibration alert fires at its tolerance."}, []string{"model"}),
		ece:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ads_monitor_ece", Help: "Expected calibration error of matured impressions (sliding window, cumulative)."}, []string{"model", "window"}),
		alert: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ads_monitor_calibration_alert", Help: "1 while the calibration drift alert fires for the model version."}, []string{"model"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.impressions, m.clicks, m.expected, m.ratio, m.gap, m.ece, m.alert} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("admonitor metrics: %w", err)
			}
		}
	}
	return m, nil
}
