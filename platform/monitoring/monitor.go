package monitoring

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
)

// ScoreFeature is the name the prediction score goes by in drift reports and metrics.
const ScoreFeature = "score"

// FreshnessSource reports how far behind a feature view is; *features.Metrics is one.
type FreshnessSource interface {
	Freshness(view string) features.Freshness
}

var _ FreshnessSource = (*features.Metrics)(nil)

// FeatureConfig overrides the defaults for one feature (or for ScoreFeature).
type FeatureConfig struct {
	// Methods replaces the default methods for the feature's kind.
	Methods []Method
	// Thresholds override the defaults method by method.
	Thresholds Thresholds
	// Min and Max, when Max > Min, are the valid range; otherwise the reference's range
	// widened by RangeTolerance on each side.
	Min, Max float64
}

// Config configures a Monitor for one model.
type Config struct {
	// Model names the model in metrics and reports.
	Model string
	// Window bounds the live window of every feature.
	Window WindowConfig
	// Bins is the number of quantile bins of numeric references.
	Bins int
	// Epsilon floors empty bin shares in PSI and KL.
	Epsilon float64
	// MinSamples is the fewest values a live window needs to be judged; smaller windows
	// report StatusInsufficient instead of a false alarm.
	MinSamples int
	// Thresholds are the default levels; Features override them per feature.
	Thresholds Thresholds
	Features   map[string]FeatureConfig
	// ActionThreshold is the score at or above which the application acts (blocks,
	// reviews, shows); the share of such scores is a proxy metric while labels are late.
	ActionThreshold float64
	// RangeTolerance widens the reference range, as a fraction of its width, before a
	// value counts as out of range.
	RangeTolerance float64
	// Freshness, if set, is asked for the lag of each view in MaxStaleness at every Check;
	// a lag above the limit counts as a stale-feature issue.
	Freshness    FreshnessSource
	MaxStaleness map[string]time.Duration
}

// DefaultConfig: a 5,000-value window, 10 bins, judged from 500 values, the default
// thresholds, action at 0.5, 10% range tolerance.
func DefaultConfig() Config {
	return Config{Window: DefaultWindowConfig(), Bins: DefaultBins, Epsilon: DefaultEpsilon, MinSamples: 500,
		Thresholds: DefaultThresholds(), ActionThreshold: 0.5, RangeTolerance: 0.1}
}

// Validate reports a config that cannot monitor.
func (c Config) Validate() error {
	if c.Model == "" {
		return fmt.Errorf("%w: Model is empty", ErrInvalidConfig)
	}
	if err := c.Window.Validate(); err != nil {
		return err
	}
	if c.Bins < 2 || c.MinSamples < 1 || c.Epsilon < 0 || c.RangeTolerance < 0 {
		return fmt.Errorf("%w: Bins %d ≥ 2, MinSamples %d ≥ 1, Epsilon %v ≥ 0, RangeTolerance %v ≥ 0 required", ErrInvalidConfig, c.Bins, c.MinSamples, c.Epsilon, c.RangeTolerance)
	}
	if err := c.Thresholds.Validate(); err != nil {
		return err
	}
	for name, f := range c.Features {
		if err := f.Thresholds.Validate(); err != nil {
			return fmt.Errorf("feature %s: %w", name, err)
		}
	}
	return nil
}

// The data-quality checks, as they appear in metrics and reports.
const (
	CheckSchema         = "schema"
	CheckMissing        = "missing"
	CheckOutOfRange     = "out_of_range"
	CheckUnseenCategory = "unseen_category"
	CheckStale          = "stale"
)

type tracked struct {
	name    string
	typ     ml.FeatureType
	ref     *Reference
	win     *Window
	methods []Method
	th      Thresholds
	lo, hi  float64
	issues  map[string]int64 // cumulative, by check
	recent  map[string]int64 // since the last Check
}

// Monitor watches one model's inputs and scores: a reference and a live window per
// feature, data-quality checks on every observation, and drift on demand (Check). It is
// safe for concurrent use.
type Monitor struct {
	cfg     Config
	schema  ml.Schema
	m       *Metrics
	mu      sync.Mutex
	feats   []*tracked
	score   *tracked
	refRate float64
	live    []bool // action flags of the live window's scores, as a ring
	liveN   int
	liveAct int
	liveAt  int
	since   int64 // observations since the last Check
	total   int64
	obs     prometheus.Counter
}

// NewMonitor builds references from the training (or a chosen period's) data and scores.
// Categorical and bool features get categorical references, the rest numeric ones.
func NewMonitor(cfg Config, ref ml.Dataset, refScores []float64, m *Metrics) (*Monitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		var err error
		if m, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	k := ref.Schema.Len()
	if k == 0 || len(ref.X) == 0 || len(ref.X)%k != 0 {
		return nil, fmt.Errorf("%w: reference has %d values for %d features", ErrInvalidConfig, len(ref.X), k)
	}
	rows := len(ref.X) / k
	mon := &Monitor{cfg: cfg, schema: ref.Schema, m: m, live: make([]bool, cfg.Window.Size), obs: m.observations.WithLabelValues(cfg.Model)}
	col := make([]float64, rows)
	for j, f := range ref.Schema.Features {
		for i := range rows {
			col[i] = ref.X[i*k+j]
		}
		t, err := mon.track(f.Name, f.Type, col)
		if err != nil {
			return nil, fmt.Errorf("monitor %s: feature %s: %w", cfg.Model, f.Name, err)
		}
		mon.feats = append(mon.feats, t)
	}
	t, err := mon.track(ScoreFeature, ml.Float, refScores)
	if err != nil {
		return nil, fmt.Errorf("monitor %s: score: %w", cfg.Model, err)
	}
	mon.score = t
	var act int
	for _, s := range refScores {
		if s >= cfg.ActionThreshold {
			act++
		}
	}
	mon.refRate = float64(act) / float64(len(refScores))
	m.actionRate.WithLabelValues(cfg.Model, "reference").Set(mon.refRate)
	return mon, nil
}

func (mon *Monitor) track(name string, typ ml.FeatureType, values []float64) (*tracked, error) {
	fc := mon.cfg.Features[name]
	t := &tracked{name: name, typ: typ, th: Thresholds{}, issues: map[string]int64{}, recent: map[string]int64{}}
	var err error
	if typ == ml.Categorical || typ == ml.Bool {
		t.ref, err = NewCategoricalReference(values)
		t.methods = []Method{PSI, KL, JS, ChiSquared}
	} else {
		t.ref, err = NewNumericReference(values, mon.cfg.Bins)
		t.methods = []Method{PSI, KL, JS, KS}
	}
	if err != nil {
		return nil, err
	}
	if len(fc.Methods) > 0 {
		t.methods = fc.Methods
	}
	for _, m := range t.methods {
		if (m == KS && t.ref.Kind != Numeric) || (m == ChiSquared && t.ref.Kind != Categorical) {
			return nil, fmt.Errorf("%s: %w", m, ErrKindMismatch)
		}
		th, ok := fc.Thresholds[m]
		if !ok {
			th, ok = mon.cfg.Thresholds[m]
		}
		if !ok {
			return nil, fmt.Errorf("%w: no thresholds for %s", ErrInvalidConfig, m)
		}
		t.th[m] = th
	}
	t.lo, t.hi = fc.Min, fc.Max
	if !(fc.Max > fc.Min) {
		w := (t.ref.Max - t.ref.Min) * mon.cfg.RangeTolerance
		t.lo, t.hi = t.ref.Min-w, t.ref.Max+w
	}
	if t.win, err = NewWindow(t.ref, mon.cfg.Window); err != nil {
		return nil, err
	}
	return t, nil
}

func (mon *Monitor) issue(t *tracked, check string) {
	t.issues[check]++
	t.recent[check]++
	mon.m.quality.WithLabelValues(mon.cfg.Model, t.name, check).Inc()
}

// Observe records one scored row: it runs the data-quality checks and adds each value to
// its live window. It costs O(features) and does not allocate. A row of the wrong width is
// a schema violation: counted, returned as ErrBadRecord, and not added.
func (mon *Monitor) Observe(t time.Time, row []float64, score float64) error {
	mon.mu.Lock()
	defer mon.mu.Unlock()
	mon.obs.Inc()
	if len(row) != len(mon.feats) {
		mon.issue(mon.score, CheckSchema)
		return fmt.Errorf("%w: row of %d values for %d features", ErrBadRecord, len(row), len(mon.feats))
	}
	mon.total++
	mon.since++
	for j, f := range mon.feats {
		mon.observeValue(f, t, row[j])
	}
	mon.observeValue(mon.score, t, score)
	if !math.IsNaN(score) {
		act := score >= mon.cfg.ActionThreshold
		if mon.liveN == len(mon.live) {
			if mon.live[mon.liveAt] {
				mon.liveAct--
			}
		} else {
			mon.liveN++
		}
		mon.live[mon.liveAt] = act
		if act {
			mon.liveAct++
		}
		mon.liveAt = (mon.liveAt + 1) % len(mon.live)
	}
	return nil
}

func (mon *Monitor) observeValue(f *tracked, t time.Time, v float64) {
	switch {
	case math.IsNaN(v):
		mon.issue(f, CheckMissing)
		return
	case math.IsInf(v, 0):
		mon.issue(f, CheckSchema)
		return
	}
	switch f.typ {
	case ml.Bool:
		if v != 0 && v != 1 {
			mon.issue(f, CheckSchema)
			return
		}
	case ml.Categorical, ml.Int:
		if v != math.Trunc(v) {
			mon.issue(f, CheckSchema)
			return
		}
	}
	if f.ref.Kind == Categorical {
		if _, ok := f.ref.Categories[v]; !ok {
			mon.issue(f, CheckUnseenCategory)
		}
	} else if v < f.lo || v > f.hi {
		mon.issue(f, CheckOutOfRange)
	}
	f.win.Add(t, v)
}

// DriftResult is one method's verdict on one feature.
type DriftResult struct {
	Feature string  `json:"feature"`
	Kind    string  `json:"kind"`
	Method  Method  `json:"method"`
	Value   float64 `json:"value"`
	// PValue is set for the tests and NaN for the distances.
	PValue    float64   `json:"p_value"`
	Threshold Threshold `json:"threshold"`
	Status    Status    `json:"status"`
	Window    int       `json:"window"`
}

// QualityIssue counts one check's failures on one feature.
type QualityIssue struct {
	Feature string `json:"feature"`
	Check   string `json:"check"`
	Total   int64  `json:"total"`
	// Rate is the share of rows observed since the previous Check that failed it.
	Rate float64 `json:"rate"`
}

// Staleness is one feature view's lag behind now.
type Staleness struct {
	View  string        `json:"view"`
	Lag   time.Duration `json:"lag"`
	Limit time.Duration `json:"limit"`
	Stale bool          `json:"stale"`
}

// Report is what a Check found.
type Report struct {
	Model   string         `json:"model"`
	At      time.Time      `json:"at"`
	Drift   []DriftResult  `json:"drift"`
	Quality []QualityIssue `json:"quality"`
	Stale   []Staleness    `json:"stale"`
	// ActionRate is the live window's share of scores at or above the action threshold;
	// ReferenceActionRate the reference's.
	ActionRate          float64 `json:"action_rate"`
	ReferenceActionRate float64 `json:"reference_action_rate"`
	Observed            int64   `json:"observed"`
}

// Check compares every live window with its reference, reads the views' freshness,
// exports the results as metrics and returns them. It costs O(bins) per binned method
// and O(window · log window) for KS.
func (mon *Monitor) Check(now time.Time) Report {
	mon.mu.Lock()
	defer mon.mu.Unlock()
	rep := Report{Model: mon.cfg.Model, At: now, ReferenceActionRate: mon.refRate, Observed: mon.total}
	if mon.liveN > 0 {
		rep.ActionRate = float64(mon.liveAct) / float64(mon.liveN)
	}
	mon.m.actionRate.WithLabelValues(mon.cfg.Model, "live").Set(rep.ActionRate)
	for _, f := range append(slices.Clip(mon.feats), mon.score) {
		for _, m := range f.methods {
			r := DriftResult{Feature: f.name, Kind: f.ref.Kind.String(), Method: m, Threshold: f.th[m], Window: f.win.Len(), PValue: math.NaN()}
			if f.win.Len() < mon.cfg.MinSamples {
				r.Status = StatusInsufficient
			} else if v, p, err := Compare(f.ref, f.win, m, mon.cfg.Epsilon); err != nil {
				r.Status = StatusInsufficient
			} else {
				r.Value, r.PValue, r.Status = v, p, judge(m, f.th[m], v, p)
			}
			g := r.Value
			if m.IsTest() {
				g = r.PValue
			}
			mon.m.drift.WithLabelValues(mon.cfg.Model, f.name, string(m)).Set(g)
			mon.m.driftStatus.WithLabelValues(mon.cfg.Model, f.name, string(m)).Set(float64(r.Status.rank()))
			rep.Drift = append(rep.Drift, r)
		}
	}
	views := make([]string, 0, len(mon.cfg.MaxStaleness))
	for v := range mon.cfg.MaxStaleness {
		views = append(views, v)
	}
	slices.Sort(views)
	for _, v := range views {
		if mon.cfg.Freshness == nil {
			break
		}
		fr := mon.cfg.Freshness.Freshness(v)
		s := Staleness{View: v, Lag: fr.Lag, Limit: mon.cfg.MaxStaleness[v]}
		s.Stale = fr.Newest.IsZero() || fr.Lag > s.Limit
		if s.Stale {
			mon.m.quality.WithLabelValues(mon.cfg.Model, v, CheckStale).Inc()
		}
		rep.Stale = append(rep.Stale, s)
	}
	for _, f := range append(slices.Clip(mon.feats), mon.score) {
		checks := make([]string, 0, len(f.issues))
		for c := range f.issues {
			checks = append(checks, c)
		}
		slices.Sort(checks)
		for _, c := range checks {
			q := QualityIssue{Feature: f.name, Check: c, Total: f.issues[c]}
			if mon.since > 0 {
				q.Rate = float64(f.recent[c]) / float64(mon.since)
			}
			rep.Quality = append(rep.Quality, q)
		}
		clear(f.recent)
	}
	mon.since = 0
	return rep
}

// Signals flattens a report into the named values alert rules read:
//
//	drift:<feature>:<method>   the value (distances) or p-value (tests); judged windows only
//	quality:<feature>:<check>  the share of rows since the previous Check that failed it
//	stale:<view>               the lag in seconds (+Inf if the view never updated)
//	action_rate                the live share of scores at or above the action threshold
//	action_rate_change         live minus reference action rate
func (r Report) Signals() map[string]float64 {
	s := map[string]float64{"action_rate": r.ActionRate, "action_rate_change": r.ActionRate - r.ReferenceActionRate}
	for _, d := range r.Drift {
		if d.Status == StatusInsufficient {
			continue
		}
		v := d.Value
		if d.Method.IsTest() {
			v = d.PValue
		}
		s["drift:"+d.Feature+":"+string(d.Method)] = v
	}
	for _, q := range r.Quality {
		s["quality:"+q.Feature+":"+q.Check] = q.Rate
	}
	for _, st := range r.Stale {
		lag := st.Lag.Seconds()
		if st.Lag == 0 && st.Stale {
			lag = math.Inf(1)
		}
		s["stale:"+st.View] = lag
	}
	return s
}

// Worst returns the worst status per feature among its results.
func (r Report) Worst() map[string]Status {
	out := map[string]Status{}
	for _, d := range r.Drift {
		if cur, ok := out[d.Feature]; !ok || d.Status.rank() > cur.rank() {
			out[d.Feature] = d.Status
		}
	}
	return out
}

// Find returns the result for a feature and method.
func (r Report) Find(feature string, m Method) (DriftResult, bool) {
	for _, d := range r.Drift {
		if d.Feature == feature && d.Method == m {
			return d, true
		}
	}
	return DriftResult{}, false
}

// FormatValue renders a result's value the way an operator reads it: "0.231" for a
// distance, "D=0.12 p=3e-05" for a test.
func (d DriftResult) FormatValue() string {
	if d.Status == StatusInsufficient {
		return "n/a"
	}
	if d.Method.IsTest() {
		return "stat=" + strconv.FormatFloat(d.Value, 'g', 3, 64) + " p=" + strconv.FormatFloat(d.PValue, 'g', 2, 64)
	}
	return strconv.FormatFloat(d.Value, 'f', 3, 64)
}

// FormatThreshold renders the thresholds: "warn ≥ 0.1, alert ≥ 0.2" or "warn p < 0.05, alert p < 0.01".
func (d DriftResult) FormatThreshold() string {
	if d.Method.IsTest() {
		return fmt.Sprintf("warn p<%g alert p<%g", d.Threshold.Warn, d.Threshold.Alert)
	}
	return fmt.Sprintf("warn≥%g alert≥%g", d.Threshold.Warn, d.Threshold.Alert)
}
