package server

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Error reasons (the label of recsys_request_errors_total).
const (
	reasonBadRequest       = "bad_request"        // the server refused the query (400)
	reasonInvalid          = "invalid"            // the recommender returned ErrInvalid (400)
	reasonDeadline         = "deadline"           // the request's deadline passed (503)
	reasonCanceled         = "canceled"           // the client went away (503)
	reasonInternal         = "internal"           // any other recommender error (500)
	reasonPanic            = "panic"              // a handler or the recommender panicked (500)
	reasonNotFound         = "not_found"          // no such route (404)
	reasonMethodNotAllowed = "method_not_allowed" // wrong method on a known route (405)
)

// pathNone labels requests no recommender path answered.
const pathNone = "none"

// metrics are the server's Prometheus series:
//
//	recsys_stage_seconds{stage}          retrieve, features, rank, rerank (as the recommender reports them) and total (the server's own view)
//	recsys_requests_total{path, code}    answered requests by recommender path ("none" when none answered) and HTTP status
//	recsys_request_errors_total{reason}  requests answered with an error, by reason
//
// No label carries a user or an item. The children the hot path uses are looked up once
// here, so a request costs a few atomic adds and no label hashing.
type metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec

	retrieve, features, rank, rerank, total prometheus.Observer
	okByPath                                map[string]prometheus.Counter // path → code 200
	errs                                    map[string]errSeries          // reason → series
}

// errSeries are the two counters one error increments.
type errSeries struct {
	code     int
	reason   prometheus.Counter
	requests prometheus.Counter // path "none", this code
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	// 50 µs to 100 ms: the server's own work is tens of microseconds, a request's budget
	// 50 ms.
	stageBuckets := []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1}
	stage := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "recsys_stage_seconds",
		Help:    "Time per recommendation stage (retrieve, features, rank, rerank as the recommender reports them) and in total inside the server.",
		Buckets: stageBuckets}, []string{"stage"})
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recsys_requests_total",
			Help: "Answered recommendation requests by the recommender path that answered (none for errors) and HTTP status code."},
			[]string{"path", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recsys_request_errors_total",
			Help: "Requests answered with an error, by reason (bad_request, invalid, deadline, canceled, internal, panic, not_found, method_not_allowed)."},
			[]string{"reason"}),
		retrieve: stage.WithLabelValues("retrieve"),
		features: stage.WithLabelValues("features"),
		rank:     stage.WithLabelValues("rank"),
		rerank:   stage.WithLabelValues("rerank"),
		total:    stage.WithLabelValues("total"),
		okByPath: map[string]prometheus.Counter{},
		errs:     map[string]errSeries{},
	}
	// The paths the recommender is known to answer by get their 200 series up front.
	for _, p := range []string{"personal", "cold-start", "fallback-popular"} {
		m.okByPath[p] = m.requests.WithLabelValues(p, "200")
	}
	for reason, code := range map[string]int{
		reasonBadRequest: 400, reasonInvalid: 400, reasonDeadline: 503, reasonCanceled: 503, reasonInternal: 500,
		reasonPanic: 500, reasonNotFound: 404, reasonMethodNotAllowed: 405,
	} {
		m.errs[reason] = errSeries{code: code, reason: m.errors.WithLabelValues(reason), requests: m.requests.WithLabelValues(pathNone, strconv.Itoa(code))}
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{stage, m.requests, m.errors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("recsys server metrics: %w", err)
			}
		}
	}
	return m, nil
}

// answered counts a 200 from path.
func (m *metrics) answered(path string) {
	if c, ok := m.okByPath[path]; ok {
		c.Inc()
		return
	}
	// A path the recommender added later: still counted, at the cost of a label lookup.
	// Paths come from the recommender's code, never from a request, so cardinality stays
	// bounded.
	m.requests.WithLabelValues(path, "200").Inc()
}

// failed counts an error answer and returns its status code.
func (m *metrics) failed(reason string) int {
	s := m.errs[reason]
	s.reason.Inc()
	s.requests.Inc()
	return s.code
}
