package serving

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus series. Labels are low-cardinality by design: model
// names and versions come from configuration and the registry, never from a request; no
// label carries a user, an entity or a key.
type metrics struct {
	requests       *prometheus.CounterVec
	fallbacks      *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	scores         *prometheus.HistogramVec
	refused        *prometheus.CounterVec
	badRequests    *prometheus.CounterVec
	authFailures   *prometheus.CounterVec
	batchRows      *prometheus.HistogramVec
	queueWait      *prometheus.HistogramVec
	expired        *prometheus.CounterVec
	breakerState   *prometheus.GaugeVec
	breakerChanges *prometheus.CounterVec
	swaps          *prometheus.CounterVec
	modelRefused   *prometheus.CounterVec
	shadow         *prometheus.CounterVec
	shadowAgree    *prometheus.CounterVec
	shadowDiff     *prometheus.HistogramVec
	logDropped     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	lat := []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_requests_total",
			Help: "Answered infer requests by model, rollout variant, version and the path that answered (primary, last-good, heuristic, default)."},
			[]string{"model", "variant", "version", "path"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_fallbacks_total",
			Help: "Answers from the fallback chain by model, the path that answered and why the primary did not (not-ready, breaker-open, overloaded, deadline, model-error)."},
			[]string{"model", "path", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "casebook_serving_request_seconds",
			Help: "Infer latency inside the server by model, version (none when no version answered), priority class and HTTP status code.", Buckets: lat},
			[]string{"model", "version", "priority", "code"}),
		scores: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "casebook_serving_score",
			Help:    "Distribution of the scores answered, by model, version and the path that answered (the drift monitor's proxy when labels are late).",
			Buckets: prometheus.LinearBuckets(0.05, 0.05, 19)}, []string{"model", "version", "path"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_admission_refused_total",
			Help: "Requests refused early by admission control, by reason (deadline, queue-full)."}, []string{"model", "priority", "reason"}),
		badRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_bad_requests_total",
			Help: "Requests answered with a 4xx other than admission and auth, by status code."}, []string{"code"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_auth_failures_total",
			Help: "Requests refused by authentication (401) or authorization (403)."}, []string{"code"}),
		batchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "casebook_serving_batch_rows",
			Help: "Rows per Predict call (the dynamic batcher's batch size).", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}, []string{"model", "version"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "casebook_serving_queue_wait_seconds",
			Help: "Time from enqueue to the start of the batch's Predict (queue, batching and CPU slot).", Buckets: lat}, []string{"model", "version"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_expired_total",
			Help: "Queued requests dropped because their deadline passed before they ran."}, []string{"model", "version"}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "casebook_serving_breaker_state",
			Help: "Circuit breaker over the primary path: 0 closed, 1 half-open, 2 open."}, []string{"model"}),
		breakerChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_breaker_transitions_total",
			Help: "Circuit breaker transitions by new state."}, []string{"model", "state"}),
		swaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_deploys_total",
			Help: "Blue/green deploys on alias moves by role and outcome (swapped, load-failed, warm-failed, schema-mismatch, feature-service-mismatch, removed)."},
			[]string{"model", "role", "outcome"}),
		modelRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_model_refused_total",
			Help: "Versions an alias moved to that serving refused to load, keeping the one it had, by reason (feature-service, schema, artifact, warm-up)."},
			[]string{"model", "reason"}),
		shadow: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_shadow_total",
			Help: "Shadow mirrors by outcome (compared rows, dropped and failed requests)."}, []string{"model", "outcome"}),
		shadowAgree: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_serving_shadow_agreements_total",
			Help: "Shadow rows whose decision agrees with the primary's."}, []string{"model"}),
		shadowDiff: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "casebook_serving_shadow_abs_diff",
			Help: "|shadow − primary| score per compared row.", Buckets: diffBuckets[:]}, []string{"model"}),
		logDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "casebook_serving_prediction_log_dropped_total",
			Help: "Prediction records dropped because the log's buffer was full or a publish failed."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.fallbacks, m.latency, m.scores, m.refused, m.badRequests, m.authFailures, m.batchRows, m.queueWait,
			m.expired, m.breakerState, m.breakerChanges, m.swaps, m.modelRefused, m.shadow, m.shadowAgree, m.shadowDiff, m.logDropped} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("serving metrics: %w", err)
			}
		}
	}
	return m, nil
}

// hostMetrics are one model version's series, curried once at deploy.
type hostMetrics struct {
	batchRows prometheus.Observer
	queueWait prometheus.Observer
	expired   prometheus.Counter
}

func (m *metrics) forHost(model string, version int) *hostMetrics {
	v := strconv.Itoa(version)
	return &hostMetrics{batchRows: m.batchRows.WithLabelValues(model, v), queueWait: m.queueWait.WithLabelValues(model, v),
		expired: m.expired.WithLabelValues(model, v)}
}
