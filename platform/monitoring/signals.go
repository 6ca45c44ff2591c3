package monitoring

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/predlog"
)

// Signal names for service health, as ServiceSignals reports them.
const (
	SignalLatency   = "latency_p99_seconds"
	SignalErrorRate = "error_rate"
	SignalRequests  = "requests"
)

// ServiceSignalsConfig names the request-latency histogram to read. The defaults are the
// serving layer's (casebook_serving_request_seconds{model,version,priority,code}); monitoring reads
// it by name from the shared Prometheus registry and does not import serving.
type ServiceSignalsConfig struct {
	Histogram  string
	ModelLabel string
	// CodeLabel holds the response status; codes starting with ErrorPrefix are errors.
	CodeLabel   string
	ErrorPrefix string
	// Quantile is the latency quantile reported as SignalLatency.
	Quantile float64
}

// DefaultServiceSignalsConfig reads serving's request histogram, p99, 5xx as errors.
func DefaultServiceSignalsConfig() ServiceSignalsConfig {
	return ServiceSignalsConfig{Histogram: "casebook_serving_request_seconds", ModelLabel: "model", CodeLabel: "code", ErrorPrefix: "5", Quantile: 0.99}
}

// Validate reports a config that names nothing.
func (c ServiceSignalsConfig) Validate() error {
	if c.Histogram == "" || c.ModelLabel == "" || !(c.Quantile > 0 && c.Quantile < 1) {
		return fmt.Errorf("%w: service signals need Histogram, ModelLabel and a Quantile in (0, 1)", ErrInvalidConfig)
	}
	return nil
}

type histSnapshot struct {
	buckets map[float64]float64 // upper bound → cumulative count
	count   float64
	errors  float64
}

// ServiceSignals turns a latency histogram into the latency and error-rate signals alert
// rules read, over the interval since the previous call for the same model (Prometheus
// histograms are cumulative since the process started; alerts want the recent interval).
type ServiceSignals struct {
	g    prometheus.Gatherer
	cfg  ServiceSignalsConfig
	mu   sync.Mutex
	prev map[string]histSnapshot
}

// NewServiceSignals reads from g, the registry serving registered its metrics on.
func NewServiceSignals(g prometheus.Gatherer, cfg ServiceSignalsConfig) (*ServiceSignals, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &ServiceSignals{g: g, cfg: cfg, prev: map[string]histSnapshot{}}, nil
}

// Signals returns the model's latency quantile (seconds), error rate and request count
// over the interval since the last call. With no requests in the interval it returns only
// SignalRequests = 0, so rules on latency and errors keep their state.
func (s *ServiceSignals) Signals(model string) (map[string]float64, error) {
	mfs, err := s.g.Gather()
	if err != nil {
		return nil, fmt.Errorf("service signals: gather: %w", err)
	}
	cur := histSnapshot{buckets: map[float64]float64{}}
	for _, mf := range mfs {
		if mf.GetName() != s.cfg.Histogram {
			continue
		}
		for _, m := range mf.GetMetric() {
			var mod, code string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case s.cfg.ModelLabel:
					mod = lp.GetValue()
				case s.cfg.CodeLabel:
					code = lp.GetValue()
				}
			}
			h := m.GetHistogram()
			if mod != model || h == nil {
				continue
			}
			n := float64(h.GetSampleCount())
			cur.count += n
			if s.cfg.ErrorPrefix != "" && strings.HasPrefix(code, s.cfg.ErrorPrefix) {
				cur.errors += n
			}
			for _, b := range h.GetBucket() {
				cur.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			}
			cur.buckets[math.Inf(1)] += n
		}
	}
	s.mu.Lock()
	prev := s.prev[model]
	s.prev[model] = cur
	s.mu.Unlock()
	total := cur.count - prev.count
	out := map[string]float64{SignalRequests: total}
	if total <= 0 {
		return out, nil
	}
	out[SignalErrorRate] = (cur.errors - prev.errors) / total
	bounds := make([]float64, 0, len(cur.buckets))
	for b := range cur.buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank := s.cfg.Quantile * total
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		c := cur.buckets[b] - prev.buckets[b]
		if c >= rank {
			if math.IsInf(b, 1) { // past the last finite bucket: report its bound, as Prometheus does
				out[SignalLatency] = lower
			} else if c > below {
				out[SignalLatency] = lower + (b-lower)*(rank-below)/(c-below)
			} else {
				out[SignalLatency] = b
			}
			break
		}
		lower, below = b, c
	}
	return out, nil
}

// Handler observes the model's logged predictions (from predictions.<model>) in the
// monitor: a Consume or Replay handler, so a monitor can run as a consumer of the
// prediction log instead of inside serving. Predictions of other models are skipped. A
// record the log holds twice (see predlog.DecodePredictions) is observed twice: rare, and a drift
// window of thousands of rows does not notice it.
func (mon *Monitor) Handler() eventlog.Handler {
	subject := predlog.PredictionSubject(mon.cfg.Model)
	return func(_ context.Context, m *eventlog.Message) error {
		if m.Subject != subject {
			return nil
		}
		ps, err := predlog.DecodePredictions(m)
		if err != nil {
			return eventlog.Permanent(err)
		}
		for _, p := range ps {
			if err := mon.Observe(p.Time, p.Row(mon.schema), p.Score); err != nil {
				return eventlog.Permanent(err)
			}
		}
		return nil
	}
}

// Handlers applies every handler to each message, in order, stopping at the first error:
// one consumer of the prediction and outcome streams can feed a Monitor and a Joiner.
func Handlers(hs ...eventlog.Handler) eventlog.Handler {
	return func(ctx context.Context, m *eventlog.Message) error {
		for _, h := range hs {
			if err := h(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
}
