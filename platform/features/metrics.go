package features

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports, per feature view, how fresh the applied data is and what happened to
// events. Labels are view names and outcomes only, never entity ids.
//
//	casebook_feature_freshness_seconds{view}              now minus the newest applied event time
//	casebook_feature_newest_event_timestamp_seconds{view} the newest applied event time
//	casebook_feature_events_total{view,outcome}           applied, late, dropped, duplicate, skipped, invalid
//	casebook_feature_materialized_values_total{view}      feature values written by materialization
type Metrics struct {
	now    func() time.Time
	mu     sync.Mutex
	newest map[string]time.Time
	counts map[string]int64 // view \x00 outcome, mirrored for Events
	events *prometheus.CounterVec
	mat    *prometheus.CounterVec
	fresh  *prometheus.Desc
	ts     *prometheus.Desc
}

// NewMetrics registers the feature store's metrics on reg. now is the clock freshness is
// measured against (time.Now in production; a simulated clock in scenarios).
func NewMetrics(reg prometheus.Registerer, now func() time.Time) (*Metrics, error) {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		now:    now,
		newest: map[string]time.Time{},
		counts: map[string]int64{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casebook_feature_events_total",
			Help: "Events seen by feature views, by outcome (applied, late, dropped, duplicate, skipped, invalid).",
		}, []string{"view", "outcome"}),
		mat: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casebook_feature_materialized_values_total",
			Help: "Feature values written to the online store by materialization.",
		}, []string{"view"}),
		fresh: prometheus.NewDesc("casebook_feature_freshness_seconds",
			"Seconds between now and the event time of the newest event applied to the view.", []string{"view"}, nil),
		ts: prometheus.NewDesc("casebook_feature_newest_event_timestamp_seconds",
			"Event time of the newest event applied to the view, as a Unix timestamp.", []string{"view"}, nil),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.mat, m} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector for the freshness gauges.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.fresh; ch <- m.ts }

// Collect implements prometheus.Collector: freshness is computed at scrape time, so a
// stalled pipeline shows a growing lag even though nothing updates it.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for view, t := range m.newest {
		ch <- prometheus.MustNewConstMetric(m.fresh, prometheus.GaugeValue, now.Sub(t).Seconds(), view)
		ch <- prometheus.MustNewConstMetric(m.ts, prometheus.GaugeValue, float64(t.UnixNano())/1e9, view)
	}
}

// Observe records one event's outcome for a view and, if it was applied, its event time.
func (m *Metrics) Observe(view string, t time.Time, o Outcome) {
	m.count(view, o.String())
	if o != Applied && o != Late {
		return
	}
	m.mu.Lock()
	if t.After(m.newest[view]) {
		m.newest[view] = t
	}
	m.mu.Unlock()
}

// ObserveInvalid counts an event the transform rejected.
func (m *Metrics) ObserveInvalid(view string) { m.count(view, "invalid") }

func (m *Metrics) materialized(view string, values int) {
	m.mat.WithLabelValues(view).Add(float64(values))
}

// Freshness is the newest applied event time of a view and its lag behind now.
type Freshness struct {
	View   string
	Newest time.Time
	Lag    time.Duration
}

// Freshness reports a view's freshness (zero Newest if nothing was applied).
func (m *Metrics) Freshness(view string) Freshness {
	m.mu.Lock()
	t := m.newest[view]
	m.mu.Unlock()
	f := Freshness{View: view, Newest: t}
	if !t.IsZero() {
		f.Lag = m.now().Sub(t)
	}
	return f
}

// Events is how many events of a view had an outcome ("applied", "late", "dropped", ...).
func (m *Metrics) Events(view, outcome string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[view+"\x00"+outcome]
}

func (m *Metrics) count(view, outcome string) {
	m.events.WithLabelValues(view, outcome).Inc()
	m.mu.Lock()
	m.counts[view+"\x00"+outcome]++
	m.mu.Unlock()
}
