package stream

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/features"
)

// Metrics exports the scorer's counters (read from Stats at scrape time) and the latency
// from a transaction's arrival in the log to its decision's publication:
//
//	casebook_fraud_decisions_total{path}            model or rules (noop: the benchmark's floor, NewNoop)
//	casebook_fraud_feature_store_errors_total       transactions decided without features (store down, refused event)
//	casebook_fraud_model_errors_total               transactions the serving layer could not score
//	casebook_fraud_chargebacks_total                chargebacks applied to the terminal features
//	casebook_fraud_decision_events_total{outcome}   decisions: new, duplicate (dropped by the log), skipped (already in the log after a restart)
//	casebook_fraud_retried_events_total            copies of events a producer published again after the duplicates window, left out
//	casebook_fraud_late_lookups_total              events the retry check asked the log about (late.go): rare unless event times run backwards
//	casebook_fraud_feature_store_up                 0 while the last online-store operation failed
//	casebook_fraud_decision_lag_seconds             log append → decision published
//
// The scorer is also the process that writes the transaction views' online rows, so its
// metrics include the feature store's set (features.Metrics) for those views:
// casebook_feature_freshness_seconds{view} is wall-clock now minus the event time of the
// newest transaction or chargeback whose rows the online store took, and
// casebook_feature_events_total{view,outcome} counts them.
//
// No label carries a card, terminal or transaction id.
type Metrics struct {
	stats    *Stats
	lag      prometheus.Histogram
	descs    map[string]*prometheus.Desc
	features *features.Metrics
}

// NewMetrics registers the scorer's metrics for stats, and the feature store's metrics of
// the views it writes, on reg.
func NewMetrics(reg prometheus.Registerer, stats *Stats) (*Metrics, error) {
	fm, err := features.NewMetrics(reg, time.Now)
	if err != nil {
		return nil, err
	}
	m := &Metrics{stats: stats, features: fm,
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "casebook_fraud_decision_lag_seconds",
			Help:    "Seconds from a transaction's append to the event log to the publication of its decision.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .015, .02, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		descs: map[string]*prometheus.Desc{
			"decisions":   prometheus.NewDesc("casebook_fraud_decisions_total", "Decisions by the path that made them (model, rules; noop for the benchmark floor).", []string{"path"}, nil),
			"featureErrs": prometheus.NewDesc("casebook_fraud_feature_store_errors_total", "Transactions decided without features: the online store failed or refused the event.", nil, nil),
			"modelErrs":   prometheus.NewDesc("casebook_fraud_model_errors_total", "Transactions the serving layer could not score with a model.", nil, nil),
			"labels":      prometheus.NewDesc("casebook_fraud_chargebacks_total", "Chargebacks applied to the terminal features.", nil, nil),
			"published":   prometheus.NewDesc("casebook_fraud_decision_events_total", "Decision events: new; duplicate (published again, dropped by the log's duplicates window); skipped (found already in the log after a restart or a failed batch, not published again).", []string{"outcome"}, nil),
			"retried":     prometheus.NewDesc("casebook_fraud_retried_events_total", "Transactions and chargebacks a producer published again after the log's duplicates window (stored twice): recognised and neither applied to the features nor decided again (a chargeback's copy later than the retry horizon is refused by the feature views instead, in casebook_feature_events_total).", nil, nil),
			"late":        prometheus.NewDesc("casebook_fraud_late_lookups_total", "Transactions whose event time is not newer than every event the in-memory retry check has forgotten, so whose decision the scorer looked up in the log: a producer's late retry, or an event arriving long after newer ones.", nil, nil),
			"storeUp":     prometheus.NewDesc("casebook_fraud_feature_store_up", "1 when the last online-store operation succeeded, 0 while it fails.", nil, nil),
		},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lag, m} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Features is the feature store's metrics of the views the scorer writes.
func (m *Metrics) Features() *features.Metrics { return m.features }

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.stats
	counter := func(name string, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(m.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	counter("decisions", s.Model.Load(), "model")
	counter("decisions", s.Rules.Load(), "rules")
	if n := s.Noop.Load(); n > 0 {
		counter("decisions", n, PathNoop)
	}
	counter("featureErrs", s.FeatureErrors.Load())
	counter("modelErrs", s.ModelErrors.Load())
	counter("labels", s.Labels.Load())
	counter("published", s.Published.Load(), "new")
	counter("published", s.Republished.Load(), "duplicate")
	counter("published", s.Skipped.Load(), "skipped")
	counter("retried", s.Retried.Load())
	counter("late", s.LateLookups.Load())
	up := 1.0
	if s.StoreDown.Load() {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(m.descs["storeUp"], prometheus.GaugeValue, up)
}
