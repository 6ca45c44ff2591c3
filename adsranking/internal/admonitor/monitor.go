// Package admonitor watches the ad-click model in production: per model version, the
// click-through rate and the calibration of the predicted click probabilities the bidder
// logged with each impression, over a sliding event-time window and since the start, and
// an alert when the model's clicks drift away from its predictions. The bidder bids with
// pctr; a model that overpredicts clicks by 30% overbids by 30% on every CPC campaign, and
// this is where that shows.
//
// The caller feeds it the ad auction's facts (events.Impression, events.Click) from the
// event log and calls Evaluate as event time passes; it knows nothing of the log itself.
//
// Time is event time throughout: the watermark is the newest event time seen (or passed to
// Advance) less Config.Lateness, and nothing reads a wall clock, so a replay or a
// simulation judges exactly as live traffic would.
//
// Only matured impressions are judged: an impression is matured once the watermark is
// past it by the attribution window, when any click it will be credited with has been
// seen. Counting younger impressions would count their clicks-to-come as non-clicks and
// make every model look overpredicting in proportion to its click delay.
//
// What it reuses from platform/monitoring: the alert rule with hysteresis
// (monitoring.Rule, one monitoring.Alerter per model version), its Alert transitions and
// their publication on alerts.<model>. What it does not: the Joiner (it keys versions by
// registry integer, windows by count rather than event time, and computes ranking
// quality, not a calibration interval), and Thresholds/Status (levels for drift distances
// and p-values; the calibration rule is a tolerance band on a ratio's interval gated by
// expected clicks, see Config.rule).
package admonitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/adsranking/events"
	"github.com/casebook-ml/casebook/platform/monitoring"
)

// noBucket is the matured-bucket index before any event: nothing is matured.
const noBucket = math.MinInt64

// backlogBuckets is how many newly matured buckets one Evaluate judges at most, oldest
// first: an evaluator that fell behind (a replay, a consumer catching up, a control loop
// slower than event time) still sees every bucket's window, so For and ClearFor count
// buckets of event time and not calls. Older ones are skipped (and counted in the log).
const backlogBuckets = 288

// key pairs a click with its impression: the request and slot that Impression.ID and
// Click.ID encode, without formatting a string per event.
type key struct {
	request string
	slot    int
}

// queued is a remembered key with its event time, in arrival order, so that forgetting
// costs what is forgotten rather than a pass over everything remembered.
type queued struct {
	t time.Time
	k key
}

// impression is what the monitor remembers of an impression to attribute its click.
type impression struct {
	t      time.Time
	v      *version
	bucket int64
	bin    int
}

// version is one model version's counts.
type version struct {
	name string
	// buckets hold the impressions of each Bucket of impression time (index: Unix time
	// divided by Bucket) with their attributed clicks, from the sliding window's first
	// bucket on; older ones are dropped, their content stays in total.
	buckets map[int64]*acc
	// total holds every counted impression and attributed click, matured or not; the
	// matured total is total minus the buckets not yet matured.
	total     acc
	first     time.Time
	clicks    ClickCounts
	dupImps   int64
	evaluated int64 // the last matured bucket the alert judged
	alerter   *monitoring.Alerter
	// The series of every event, resolved once.
	mImp, mClick, mExpected prometheus.Counter
}

// ClickCounts are a version's clicks by result. Attributed clicks are on impressions
// matured or not; the others are not in any CTR.
type ClickCounts struct {
	Attributed        int64
	Duplicate         int64
	UnknownImpression int64
	OutsideWindow     int64
}

// Monitor tracks CTR and calibration per model version and alerts on calibration drift.
// It is safe for concurrent use.
type Monitor struct {
	cfg      Config
	log      *slog.Logger
	met      *metrics
	pub      monitoring.Publisher
	bucketNs int64
	nWindow  int64 // buckets in the sliding window

	// evalMu serialises Evaluate, so each version's alerter sees its windows in order.
	evalMu sync.Mutex

	mu       sync.Mutex
	newest   time.Time // newest event time seen or advanced to
	started  bool
	swept    int64 // the matured bucket at the last sweep
	versions map[string]*version
	imps     map[key]impression
	seen     map[key]bool         // clicks counted: a repeated click counts once
	impQ     []queued             // the keys of imps, to forget them
	seenQ    []queued             // the keys of seen
	early    map[key]events.Click // clicks whose impression has not arrived yet
}

// New returns an empty monitor. pub, if not nil, receives alert transitions on
// alerts.<model version> (an *eventlog.Log is one); logger may be nil; metrics are
// registered on reg (nil: not exported).
func New(cfg Config, pub monitoring.Publisher, logger *slog.Logger, reg prometheus.Registerer) (*Monitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.BinEdges = slices.Clone(cfg.BinEdges) // the caller's slice may change under us
	met, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Monitor{cfg: cfg, log: logger.With("component", "admonitor"), met: met, pub: pub,
		bucketNs: int64(cfg.Bucket), nWindow: int64(cfg.Window / cfg.Bucket), swept: noBucket,
		versions: map[string]*version{}, imps: map[key]impression{}, seen: map[key]bool{}, early: map[key]events.Click{}}, nil
}

// validTime rejects times whose Unix nanoseconds do not fit an int64 (the zero time among
// them, an unset field), which bucketing could not place.
func validTime(t time.Time) bool { return t.Year() > 1700 && t.Year() < 2200 }

// ObserveImpression counts an impression: once per id (a replayed billing report is
// counted as a duplicate), in the bucket of its event time, with its pctr as the
// expected clicks. A click that arrived before it is attributed now. Ids are remembered
// for two attribution windows past the watermark, so replaying a whole log into a running
// monitor would count the older impressions again: a replay wants a new Monitor.
func (m *Monitor) ObserveImpression(i events.Impression) error {
	if i.Request == "" || i.Slot < 0 || !validTime(i.Time) || !(i.PCTR >= 0 && i.PCTR <= 1) {
		return fmt.Errorf("%w: impression %q slot %d at %v with pctr %v", ErrInvalidEvent, i.Request, i.Slot, i.Time, i.PCTR)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(i.Time)
	v := m.version(i.Model)
	id := key{i.Request, i.Slot}
	if _, dup := m.imps[id]; dup {
		v.dupImps++
		m.met.impressions.WithLabelValues(v.name, ResultDuplicate).Inc()
		return nil
	}
	rec := impression{t: i.Time, v: v, bucket: floorDiv(i.Time.UnixNano(), m.bucketNs), bin: m.cfg.bin(i.PCTR)}
	m.imps[id] = rec
	m.impQ = append(m.impQ, queued{i.Time, id})
	v.total.impression(i.PCTR, rec.bin)
	if v.first.IsZero() || i.Time.Before(v.first) {
		v.first = i.Time
	}
	if b := m.bucket(v, rec.bucket); b != nil {
		b.impression(i.PCTR, rec.bin)
	}
	v.mImp.Inc()
	v.mExpected.Add(i.PCTR)
	if c, ok := m.early[id]; ok {
		delete(m.early, id)
		m.attribute(c, rec)
	}
	return nil
}

// ObserveClick credits a click to its impression (same request and slot) if it came at
// most AttributionWindow after it. A click counts once per id; one whose impression is
// not known yet waits for it until the watermark passes the click, then counts as
// unattributed (ResultUnknownImpression), under the click's model version.
func (m *Monitor) ObserveClick(c events.Click) error {
	if c.Request == "" || c.Slot < 0 || !validTime(c.Time) {
		return fmt.Errorf("%w: click %q slot %d at %v", ErrInvalidEvent, c.Request, c.Slot, c.Time)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(c.Time)
	id := key{c.Request, c.Slot}
	if m.seen[id] {
		v := m.version(c.Model)
		v.clicks.Duplicate++
		m.met.clicks.WithLabelValues(v.name, ResultDuplicate).Inc()
		return nil
	}
	m.seen[id] = true
	m.seenQ = append(m.seenQ, queued{c.Time, id})
	rec, ok := m.imps[id]
	if !ok {
		// The log is not ordered across subjects: the impression report may still come.
		m.early[id] = c
		return nil
	}
	m.attribute(c, rec)
	return nil
}

// Advance moves event time to now if it is later than any event seen: when traffic stops
// (or a replay ends), the last impressions still mature and waiting clicks resolve.
func (m *Monitor) Advance(now time.Time) {
	if !validTime(now) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
}

// attribute credits c to rec's version if it is inside the attribution window. A click
// stamped before its impression is clock skew between the click tracker and the
// exchange's billing report, and is credited.
func (m *Monitor) attribute(c events.Click, rec impression) {
	v := rec.v
	if c.Time.Sub(rec.t) > m.cfg.AttributionWindow {
		v.clicks.OutsideWindow++
		m.met.clicks.WithLabelValues(v.name, ResultOutsideWindow).Inc()
		return
	}
	v.clicks.Attributed++
	v.total.click(rec.bin)
	if b := v.buckets[rec.bucket]; b != nil {
		b.click(rec.bin)
	}
	v.mClick.Inc()
}

func (m *Monitor) version(name string) *version {
	v, ok := m.versions[name]
	if !ok {
		bins := len(m.cfg.BinEdges)
		v = &version{name: name, buckets: map[int64]*acc{}, total: newAcc(bins), evaluated: noBucket,
			mImp: m.met.impressions.WithLabelValues(name, ResultCounted), mClick: m.met.clicks.WithLabelValues(name, ResultAttributed),
			mExpected: m.met.expected.WithLabelValues(name)}
		m.versions[name] = v
		m.met.alert.WithLabelValues(name).Set(0)
		m.log.Info("new model version", "model", name)
	}
	return v
}

// bucket returns v's bucket k, creating it, or nil if k is older than the sliding
// window: such an impression is matured on arrival and goes to the total only.
func (m *Monitor) bucket(v *version, k int64) *acc {
	if b, ok := v.buckets[k]; ok {
		return b
	}
	if k < m.lowest() {
		return nil
	}
	b := newAcc(len(m.cfg.BinEdges))
	v.buckets[k] = &b
	return &b
}

// watermark is the event time up to which every event is taken to have arrived.
func (m *Monitor) watermark() time.Time { return m.newest.Add(-m.cfg.Lateness) }

// matured is the index of the newest bucket whose impressions are all matured: bucket k
// ends at (k+1)·Bucket, and its last impression matures AttributionWindow after that.
func (m *Monitor) matured() int64 {
	if !m.started {
		return noBucket
	}
	return floorDiv(m.watermark().Add(-m.cfg.AttributionWindow).UnixNano(), m.bucketNs) - 1
}

// lowest is the index of the sliding window's first bucket.
func (m *Monitor) lowest() int64 {
	k := m.matured()
	if k < noBucket+m.nWindow {
		return noBucket
	}
	return k - m.nWindow + 1
}

func (m *Monitor) advance(t time.Time) {
	if m.started && !t.After(m.newest) {
		return
	}
	m.newest, m.started = t, true
	if k := m.matured(); k != m.swept {
		m.swept = k
		m.sweep()
	}
}

// sweep forgets what can no longer matter, once per bucket of event time.
func (m *Monitor) sweep() {
	low := m.lowest()
	if low != noBucket && low-noBucket > backlogBuckets { // keep the windows Evaluate may still judge
		low -= backlogBuckets
	} else {
		low = noBucket
	}
	for _, v := range m.versions {
		for k := range v.buckets {
			if k < low {
				delete(v.buckets, k)
			}
		}
	}
	wm := m.watermark()
	// Impressions and click ids are kept one attribution window longer than a click can be
	// credited, so that a click past the window is told apart from one whose impression
	// never came, and a repeated click is still recognised.
	// The queues are in arrival order, which is event order up to Lateness: an entry that
	// arrived out of order is forgotten when the entries before it are, a little late.
	forget := wm.Add(-2 * m.cfg.AttributionWindow)
	m.impQ = dequeue(m.impQ, forget, func(k key) { delete(m.imps, k) })
	m.seenQ = dequeue(m.seenQ, forget, func(k key) { delete(m.seen, k) })
	for id, c := range m.early { // a full pass, but over the few clicks that came early
		if c.Time.Before(wm) { // its impression would be later than Lateness allows
			delete(m.early, id)
			v := m.version(c.Model)
			v.clicks.UnknownImpression++
			m.met.clicks.WithLabelValues(v.name, ResultUnknownImpression).Inc()
		}
	}
}

// dequeue drops the leading entries older than before, calling drop for each.
func dequeue(q []queued, before time.Time, drop func(key)) []queued {
	i := 0
	for ; i < len(q) && q[i].t.Before(before); i++ {
		drop(q[i].k)
	}
	return slices.Delete(q, 0, i)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// window sums v's matured buckets of the sliding window ending with bucket k.
func (m *Monitor) window(v *version, k int64) acc {
	w := newAcc(len(m.cfg.BinEdges))
	from := k - m.nWindow + 1
	for i, b := range v.buckets {
		if i >= from && i <= k {
			w.add(b, 1)
		}
	}
	w.first, w.end = time.Unix(0, from*m.bucketNs).UTC(), time.Unix(0, (k+1)*m.bucketNs).UTC()
	return w
}

// cumulative is v's total less the buckets after k (not yet matured), and pending those.
func (m *Monitor) cumulative(v *version, k int64) (matured, pending acc) {
	matured, pending = v.total.clone(), newAcc(len(m.cfg.BinEdges))
	for i, b := range v.buckets {
		if i > k {
			pending.add(b, 1)
		}
	}
	matured.add(&pending, -1)
	matured.first, matured.end = v.first.UTC(), time.Unix(0, (k+1)*m.bucketNs).UTC()
	return matured, pending
}

// Evaluate judges each model version's sliding window ending at every bucket matured since
// the last evaluation, oldest first (so the alert rule's For and ClearFor count buckets of
// event time, however often Evaluate is called; at most backlogBuckets of them), updates
// the gauges, and returns the alert
// transitions. A window with fewer than MinExpectedClicks expected clicks leaves the
// version's alert as it is. Publishing failures are returned joined, after every version
// was judged; the state changes stand.
func (m *Monitor) Evaluate(ctx context.Context) ([]monitoring.Alert, error) {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	type job struct {
		a   *monitoring.Alerter
		at  time.Time
		sig map[string]float64
	}
	var jobs []job
	m.mu.Lock()
	k := m.matured()
	for _, name := range slices.Sorted(maps.Keys(m.versions)) {
		v := m.versions[name]
		if k == noBucket || v.evaluated >= k {
			continue
		}
		from := v.evaluated + 1
		if v.evaluated == noBucket && !v.first.IsZero() {
			from = floorDiv(v.first.UnixNano(), m.bucketNs)
		}
		if oldest := k - backlogBuckets + 1; from < oldest {
			if v.evaluated != noBucket {
				m.log.Warn("evaluation fell behind: buckets skipped", "model", name, "skipped", oldest-from)
			}
			from = oldest
		}
		v.evaluated = k
		if v.alerter == nil {
			a, err := monitoring.NewAlerter(monitoring.AlerterConfig{Rules: []monitoring.Rule{m.cfg.rule(name)}, Publisher: m.pub, Logger: m.log})
			if err != nil {
				m.mu.Unlock()
				return nil, fmt.Errorf("admonitor: alerter for %s: %w", name, err)
			}
			v.alerter = a
		}
		for j := from; j <= k; j++ {
			w := m.window(v, j)
			ws := w.stats(m.cfg.BinEdges, m.cfg.Z)
			sig := map[string]float64{}
			if m.cfg.conclusive(ws) {
				sig[SignalGap] = ws.Gap
			}
			// The judgment is dated when the window's last impressions matured, not when
			// Evaluate happened to run.
			jobs = append(jobs, job{a: v.alerter, at: ws.To.Add(m.cfg.AttributionWindow), sig: sig})
			if j == k {
				tot, _ := m.cumulative(v, k)
				m.setGauges(name, ws, tot.stats(m.cfg.BinEdges, m.cfg.Z))
			}
		}
	}
	m.mu.Unlock()
	var out []monitoring.Alert
	var errs []error
	for _, j := range jobs {
		als, err := j.a.Evaluate(ctx, j.at, j.sig)
		if err != nil {
			errs = append(errs, fmt.Errorf("admonitor: %w", err))
		}
		for _, al := range als {
			m.met.alert.WithLabelValues(al.Model).Set(map[bool]float64{true: 1}[al.State == monitoring.StateFiring])
		}
		out = append(out, als...)
	}
	return out, errors.Join(errs...)
}

func (m *Monitor) setGauges(model string, w, tot Stats) {
	for _, s := range []struct {
		window string
		st     Stats
	}{{WindowSliding, w}, {WindowCumulative, tot}} {
		if !math.IsNaN(s.st.Ratio) {
			m.met.ratio.WithLabelValues(model, s.window).Set(s.st.Ratio)
		}
		if !math.IsNaN(s.st.ECE) {
			m.met.ece.WithLabelValues(model, s.window).Set(s.st.ECE)
		}
	}
	if !math.IsNaN(w.Gap) {
		m.met.gap.WithLabelValues(model).Set(w.Gap)
	}
}
