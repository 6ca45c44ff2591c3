package console

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The serving metrics the page reads (platform/serving/metrics.go names them).
const (
	mRequests    = "casebook_serving_requests_total"
	mLatency     = "casebook_serving_request_seconds"
	mBatchRows   = "casebook_serving_batch_rows"
	mShadow      = "casebook_serving_shadow_total"
	mShadowAgree = "casebook_serving_shadow_agreements_total"
	mShadowDiff  = "casebook_serving_shadow_abs_diff"
)

// hist is a cumulative histogram: upper bounds and counts at or below each.
type hist struct {
	bounds []float64
	cum    []float64
	count  float64
	sum    float64
}

func (h *hist) add(m *dto.Histogram) {
	if h.bounds == nil {
		for _, b := range m.GetBucket() {
			h.bounds = append(h.bounds, b.GetUpperBound())
			h.cum = append(h.cum, 0)
		}
	}
	for i, b := range m.GetBucket() {
		if i < len(h.cum) && b.GetUpperBound() == h.bounds[i] {
			h.cum[i] += float64(b.GetCumulativeCount())
		}
	}
	h.count += float64(m.GetSampleCount())
	h.sum += m.GetSampleSum()
}

// minus is h − prev (what happened between two scrapes); prev nil returns h.
func (h hist) minus(prev *hist) hist {
	if prev == nil || !slices.Equal(h.bounds, prev.bounds) || prev.count > h.count {
		return h
	}
	d := hist{bounds: h.bounds, count: h.count - prev.count, sum: h.sum - prev.sum, cum: make([]float64, len(h.cum))}
	for i := range h.cum {
		d.cum[i] = h.cum[i] - prev.cum[i]
	}
	return d
}

// quantile interpolates linearly inside the bucket holding rank q·count, as
// Prometheus's histogram_quantile does; NaN without observations, the highest finite
// bound when the rank falls in +Inf.
func (h hist) quantile(q float64) float64 {
	if h.count == 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lo, below := 0.0, 0.0
	for i, ub := range h.bounds {
		if h.cum[i] >= rank {
			if math.IsInf(ub, 1) {
				return lo
			}
			inBucket := h.cum[i] - below
			if inBucket <= 0 {
				return ub
			}
			return lo + (ub-lo)*(rank-below)/inBucket
		}
		lo, below = ub, h.cum[i]
	}
	return lo
}

func (h hist) mean() float64 {
	if h.count == 0 {
		return math.NaN()
	}
	return h.sum / h.count
}

// modelStats is what one serving process reported about one model.
type modelStats struct {
	Model         string
	Requests      float64
	ByPath        map[string]float64
	Variants      []variantCount
	Latency       hist
	Batch         hist
	Shadow, Agree float64
	ShadowDiff    hist
	variants      map[string]float64
}

type variantCount struct {
	Variant, Version string
	Count            float64
}

// scrapeSample is one target's metrics at one time, kept to compute rates.
type scrapeSample struct {
	at     time.Time
	models map[string]*modelStats
}

type scrapes struct {
	mu   sync.Mutex
	last map[string]scrapeSample
}

// scrape reads url/metrics and sums the serving families per model.
func (c *Console) scrape(ctx context.Context, base string) (map[string]*modelStats, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ScrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseServingMetrics(io.LimitReader(resp.Body, 32<<20))
}

func parseServingMetrics(r io.Reader) (map[string]*modelStats, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	out := map[string]*modelStats{}
	get := func(m *dto.Metric) *modelStats {
		name := label(m, "model")
		s, ok := out[name]
		if !ok {
			s = &modelStats{Model: name, ByPath: map[string]float64{}, variants: map[string]float64{}}
			out[name] = s
		}
		return s
	}
	for _, m := range fams[mRequests].GetMetric() {
		s := get(m)
		v := m.GetCounter().GetValue()
		s.Requests += v
		s.ByPath[label(m, "path")] += v
		s.variants[label(m, "variant")+"\x00"+label(m, "version")] += v
	}
	for _, m := range fams[mLatency].GetMetric() {
		get(m).Latency.add(m.GetHistogram())
	}
	for _, m := range fams[mBatchRows].GetMetric() {
		get(m).Batch.add(m.GetHistogram())
	}
	for _, m := range fams[mShadow].GetMetric() {
		if label(m, "outcome") == "compared" {
			get(m).Shadow += m.GetCounter().GetValue()
		}
	}
	for _, m := range fams[mShadowAgree].GetMetric() {
		get(m).Agree += m.GetCounter().GetValue()
	}
	for _, m := range fams[mShadowDiff].GetMetric() {
		get(m).ShadowDiff.add(m.GetHistogram())
	}
	for _, s := range out {
		for k, n := range s.variants {
			variant, version, _ := strings.Cut(k, "\x00")
			s.Variants = append(s.Variants, variantCount{variant, version, n})
		}
		slices.SortFunc(s.Variants, func(a, b variantCount) int { return cmp.Compare(a.Variant+a.Version, b.Variant+b.Version) })
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// servingRow is one model of one target, as the page shows it.
type servingRow struct {
	Model                  string
	Requests               float64
	Rate                   string // per second since the previous scrape, or why not
	P50, P99               string
	Window                 string // "since the last view" or "since start"
	Fallbacks              float64
	FallbackShare          string
	ByPath                 []variantCount
	Variants               []variantCount
	BatchMean, BatchP99    string
	Shadow                 float64
	ShadowAgree, ShadowMAE string
}

type servingTarget struct {
	URL   string
	Error string
	Rows  []servingRow
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f ms", 1000*v)
}

func num(v float64, format string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

func (c *Console) servingPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	targets := make([]servingTarget, len(c.cfg.ServingURLs))
	var wg sync.WaitGroup
	for i, u := range c.cfg.ServingURLs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			targets[i] = c.servingTarget(r.Context(), u)
		}()
	}
	wg.Wait()
	return c.show(w, "serving", start, page{Title: "Serving", Who: p, Open: c.cfg.OpenRead, Data: targets})
}

func (c *Console) servingTarget(ctx context.Context, u string) servingTarget {
	t := servingTarget{URL: u}
	now := c.cfg.Now()
	stats, err := c.scrape(ctx, u)
	if err != nil {
		t.Error = err.Error()
		return t
	}
	c.scrapes.mu.Lock()
	prev, had := c.scrapes.last[u]
	c.scrapes.last[u] = scrapeSample{at: now, models: stats}
	c.scrapes.mu.Unlock()
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := stats[n]
		row := servingRow{Model: n, Requests: s.Requests, Shadow: s.Shadow, Window: "since the server started", Rate: "reload to measure"}
		lat := s.Latency
		if ps, ok := prev.models[n]; had && ok && s.Requests >= ps.Requests {
			if dt := now.Sub(prev.at).Seconds(); dt > 0 {
				row.Rate = fmt.Sprintf("%.1f/s over %.1fs", (s.Requests-ps.Requests)/dt, dt)
			}
			if d := s.Latency.minus(&ps.Latency); d.count > 0 {
				lat, row.Window = d, "since the previous view"
			}
		}
		row.P50, row.P99 = ms(lat.quantile(0.5)), ms(lat.quantile(0.99))
		for path, v := range s.ByPath {
			row.ByPath = append(row.ByPath, variantCount{Variant: path, Count: v})
			if path != "primary" {
				row.Fallbacks += v
			}
		}
		slices.SortFunc(row.ByPath, func(a, b variantCount) int { return cmp.Compare(a.Variant, b.Variant) })
		if s.Requests > 0 {
			row.FallbackShare = fmt.Sprintf("%.2f%%", 100*row.Fallbacks/s.Requests)
		}
		row.Variants = s.Variants
		row.BatchMean, row.BatchP99 = num(s.Batch.mean(), "%.1f rows"), num(s.Batch.quantile(0.99), "%.0f rows")
		if s.Shadow > 0 {
			row.ShadowAgree = fmt.Sprintf("%.2f%%", 100*s.Agree/s.Shadow)
			row.ShadowMAE = num(s.ShadowDiff.mean(), "%.4f")
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
