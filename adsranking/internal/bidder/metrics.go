package bidder

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bidder's Prometheus series: per-stage latency, requests by outcome,
// degrade steps, candidates scored.
type Metrics struct {
	stage    *prometheus.HistogramVec
	total    prometheus.Histogram
	outcome  *prometheus.CounterVec
	level    *prometheus.CounterVec
	scored   prometheus.Histogram
	late     prometheus.Counter
	stageObs [numStages]prometheus.Observer
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	buckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1}
	m := &Metrics{
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ads_stage_seconds", Help: "Time in each stage of a bid request.", Buckets: buckets}, []string{"stage"}),
		total: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ads_request_seconds", Help: "Time from arrival to answer, in the bidder.", Buckets: buckets}),
		outcome: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ads_requests_total", Help: "Bid requests by outcome: bid, or the no-bid reason."},
			[]string{"outcome"}),
		level: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ads_degrade_total", Help: "Bid requests by how far down the degrade ladder they went."}, []string{"level"}),
		scored: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ads_candidates_scored", Help: "Candidates scored per request.",
			Buckets: []float64{0, 50, 100, 200, 400, 600, 800, 1000, 2000}}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "ads_late_total", Help: "Requests whose bid was ready after the deadline and was sent as a no-bid."}),
	}
	for _, c := range []prometheus.Collector{m.stage, m.total, m.outcome, m.level, m.scored, m.late} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for i, n := range StageNames {
		m.stageObs[i] = m.stage.WithLabelValues(n)
	}
	for l := range levels {
		m.level.WithLabelValues(l.String())
	}
	return m, nil
}

func (m *Metrics) observe(o *Outcome) {
	if m == nil {
		return
	}
	for i, d := range o.Stages {
		if d > 0 {
			m.stageObs[i].Observe(d.Seconds())
		}
	}
	m.total.Observe(o.Total.Seconds())
	if o.Bid {
		m.outcome.WithLabelValues("bid").Inc()
	} else {
		m.outcome.WithLabelValues(o.NoBid.String()).Inc()
	}
	m.level.WithLabelValues(o.Level.String()).Inc()
	m.scored.Observe(float64(o.Scored))
	if o.Late {
		m.late.Inc()
	}
}
