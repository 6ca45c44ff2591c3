package monitoring

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
)

// JoinConfig configures the join of outcomes to predictions.
type JoinConfig struct {
	// Model whose predictions and outcomes are joined.
	Model string
	// Horizon is how long, in event time, a prediction waits for its outcome. After it,
	// the prediction is dropped as expired or, with ImplicitNegative, joined with label 0:
	// a transaction with no chargeback after 60 days was not fraud, an impression with no
	// click in 30 minutes was not clicked.
	Horizon          time.Duration
	ImplicitNegative bool
	// Window is how many joined predictions per version online quality is computed over.
	Window int
	// K is the k of precision at k, over the window.
	K int
	// ActionThreshold is the score at or above which the application acts; precision
	// and recall at it are reported beside the ranking metrics.
	ActionThreshold float64
	// KeepRows keeps the features of the last KeepRows joined predictions (all versions)
	// for retraining; zero keeps none.
	KeepRows int
	// Periods, when positive, windows online quality in event time instead of by count:
	// quality is computed over the predictions made in the last Periods whole periods
	// (of length Period, aligned to the Unix epoch: UTC days for 24h) that are due, that is
	// made at least Horizon before the watermark of the last Advance, so that every one of
	// them could have its outcome by now. PrecisionAtK is then the mean, over those
	// periods, of the precision of each period's K highest scores (a review budget per
	// day), and LabelCoverage is the share of the window's predictions that have a label
	// (an outcome, or an implicit negative). Window still bounds nothing here; K and the
	// action threshold apply as in the count window.
	Period  time.Duration
	Periods int
	// OutcomeClock closes a prediction as an implicit negative (or as expired) only once
	// an outcome at least Horizon newer than the prediction has been read, not merely a
	// newer prediction: "no outcome by the horizon" is then a fact about the outcome feed,
	// and a feed that stalls shows as falling label coverage instead of a run of false
	// negatives.
	OutcomeClock bool
}

// DefaultJoinConfig waits 30 days, without implicit negatives, over 5,000 joined
// predictions per version, precision at 100, acting at 0.5.
func DefaultJoinConfig() JoinConfig {
	return JoinConfig{Horizon: 30 * 24 * time.Hour, Window: 5000, K: 100, ActionThreshold: 0.5}
}

// Validate reports a join that cannot compute quality.
func (c JoinConfig) Validate() error {
	if c.Model == "" || c.Horizon <= 0 || c.Window <= 0 || c.K <= 0 || c.KeepRows < 0 {
		return fmt.Errorf("%w: join needs Model, Horizon > 0, Window > 0, K > 0, KeepRows ≥ 0 (got %+v)", ErrInvalidConfig, c)
	}
	if c.Periods < 0 || (c.Periods > 0 && c.Period <= 0) {
		return fmt.Errorf("%w: join needs Periods ≥ 0, and Period > 0 when Periods > 0 (got %d × %v)", ErrInvalidConfig, c.Periods, c.Period)
	}
	return nil
}

type joined struct {
	score, label float64
	delay        time.Duration
}

// closed remembers a prediction that stopped waiting: when it was made, and whether it
// was closed by the horizon (an implicit negative) rather than by an outcome.
type closed struct {
	at       time.Time
	implicit bool
}

type versionWindow struct {
	ring []joined
	at   int
	n    int
	// periods holds, with JoinConfig.Periods, each period's predictions: how many were
	// made and the joined ones.
	periods map[int64]*period
}

// period is one event-time period of a version's predictions.
type period struct {
	made   int
	joined []joined
}

func (w *versionWindow) add(j joined) {
	w.ring[w.at] = j
	w.at = (w.at + 1) % len(w.ring)
	w.n = min(w.n+1, len(w.ring))
}

// Joiner joins outcomes to predictions by id in event time. Outcomes that arrive before
// their prediction (the log is not ordered across subjects) wait for it. It is safe for
// concurrent use.
type Joiner struct {
	cfg      JoinConfig
	m        *Metrics
	mu       sync.Mutex
	pending  map[string]predlog.Prediction
	order    []string // pending ids in arrival order, for expiry
	early    map[string]predlog.Outcome
	done     map[string]closed // joined prediction ids, to spot duplicates and late outcomes
	versions map[int]*versionWindow
	rows     []predlog.Prediction
	rowsY    []float64
	rowAt    int
	counts   map[string]int64
	// predClock and outcomeClock are the newest prediction and outcome times read; due is
	// the last Advance's watermark minus the horizon (what is old enough to be labelled).
	predClock, outcomeClock, due time.Time
}

// NewJoiner returns an empty joiner.
func NewJoiner(cfg JoinConfig, m *Metrics) (*Joiner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		var err error
		if m, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	return &Joiner{cfg: cfg, m: m, pending: map[string]predlog.Prediction{}, early: map[string]predlog.Outcome{}, done: map[string]closed{}, versions: map[int]*versionWindow{}, counts: map[string]int64{}}, nil
}

func (j *Joiner) count(result string) {
	j.counts[result]++
	j.m.outcomes.WithLabelValues(j.cfg.Model, result).Inc()
}

// AddPrediction records a prediction waiting for its outcome. A prediction whose id is
// already waiting or joined is ignored: the log may hold a record twice (a replay, or a
// producer that regrouped its records into different messages after a restart).
func (j *Joiner) AddPrediction(p predlog.Prediction) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.done[p.ID]; ok {
		return // joined already (a replayed prediction)
	}
	if _, dup := j.pending[p.ID]; dup {
		return
	}
	if p.Time.After(j.predClock) {
		j.predClock = p.Time
	}
	if j.cfg.Periods > 0 {
		j.period(p).made++
	}
	if j.cfg.KeepRows == 0 {
		p.Features = nil // only kept rows need them; a waiting prediction is held for a horizon
	}
	if o, ok := j.early[p.ID]; ok {
		delete(j.early, p.ID)
		j.join(p, o.Label, o.Time.Sub(p.Time), false)
		return
	}
	j.pending[p.ID] = p
	j.order = append(j.order, p.ID)
}

// AddOutcome joins an outcome to its prediction, or keeps it until the prediction
// arrives. A second outcome for the same prediction is counted as a duplicate and ignored.
func (j *Joiner) AddOutcome(o predlog.Outcome) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if o.Time.After(j.outcomeClock) {
		j.outcomeClock = o.Time
	}
	p, ok := j.pending[o.ID]
	if !ok {
		c, joinedAlready := j.done[o.ID]
		if joinedAlready && c.implicit {
			// The horizon labelled it negative before this outcome arrived: label noise
			// that a longer horizon would avoid, counted so it can be sized.
			j.count("late")
			return
		}
		if _, seen := j.early[o.ID]; seen || joinedAlready {
			j.count("duplicate")
			return
		}
		j.early[o.ID] = o
		j.count("early")
		return
	}
	delete(j.pending, o.ID)
	j.join(p, o.Label, o.Time.Sub(p.Time), false)
}

// window returns the version's window, creating it.
func (j *Joiner) window(version int) *versionWindow {
	w, ok := j.versions[version]
	if !ok {
		w = &versionWindow{ring: make([]joined, j.cfg.Window)}
		if j.cfg.Periods > 0 {
			w.periods = map[int64]*period{}
		}
		j.versions[version] = w
	}
	return w
}

// periodOf is the index of the period t falls in.
func (j *Joiner) periodOf(t time.Time) int64 {
	n, d := t.UnixNano(), int64(j.cfg.Period)
	q := n / d
	if n%d < 0 {
		q--
	}
	return q
}

// period returns the period p was made in, creating it (Periods > 0 only).
func (j *Joiner) period(p predlog.Prediction) *period {
	w := j.window(p.Version)
	k := j.periodOf(p.Time)
	pd := w.periods[k]
	if pd == nil {
		pd = &period{}
		w.periods[k] = pd
	}
	return pd
}

// join records a joined prediction; implicit joins (no outcome came) have no label delay.
func (j *Joiner) join(p predlog.Prediction, label float64, delay time.Duration, implicit bool) {
	w := j.window(p.Version)
	if implicit {
		delay = -1
	} else {
		j.m.labelDelay.WithLabelValues(j.cfg.Model).Observe(max(delay, 0).Seconds())
	}
	w.add(joined{score: p.Score, label: label, delay: delay})
	if j.cfg.Periods > 0 {
		pd := j.period(p)
		pd.joined = append(pd.joined, joined{score: p.Score, label: label, delay: delay})
	}
	j.done[p.ID] = closed{at: p.Time, implicit: implicit}
	j.count("joined")
	if j.cfg.KeepRows > 0 {
		if len(j.rows) < j.cfg.KeepRows {
			j.rows, j.rowsY = append(j.rows, p), append(j.rowsY, label)
		} else {
			j.rows[j.rowAt], j.rowsY[j.rowAt] = p, label
			j.rowAt = (j.rowAt + 1) % j.cfg.KeepRows
		}
	}
}

// Advance moves the event-time watermark to now: predictions older than now − Horizon
// stop waiting, joined as negatives (ImplicitNegative) or dropped as expired, and outcomes
// older than that whose prediction never arrived are dropped as orphans. It returns how
// many predictions stopped waiting. With OutcomeClock, a prediction stops waiting only
// once it is also older than the newest outcome read minus Horizon.
func (j *Joiner) Advance(now time.Time) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	cut := now.Add(-j.cfg.Horizon)
	if cut.After(j.due) {
		j.due = cut
	}
	closeAt := cut
	if oc := j.outcomeClock.Add(-j.cfg.Horizon); j.cfg.OutcomeClock && oc.Before(closeAt) {
		closeAt = oc
	}
	n := 0
	i := 0
	for ; i < len(j.order); i++ {
		p, ok := j.pending[j.order[i]]
		if !ok {
			continue // joined already
		}
		if !p.Time.Before(closeAt) {
			break
		}
		delete(j.pending, p.ID)
		n++
		if j.cfg.ImplicitNegative {
			j.join(p, 0, j.cfg.Horizon, true)
			j.count("implicit_negative")
		} else {
			j.count("expired")
		}
	}
	j.order = slices.Delete(j.order, 0, i)
	old := cut.Add(-j.cfg.Horizon) // closed predictions are remembered one more horizon, to spot late outcomes
	for id, c := range j.done {
		if c.at.Before(old) {
			delete(j.done, id)
		}
	}
	for id, o := range j.early {
		if o.Time.Before(cut) { // its prediction never came (or came before the log kept it)
			delete(j.early, id)
			j.count("orphan")
		}
	}
	if j.cfg.Periods > 0 { // forget periods that left the window
		first := j.periodOf(j.due) - int64(j.cfg.Periods)
		for _, w := range j.versions {
			for k := range w.periods {
				if k < first {
					delete(w.periods, k)
				}
			}
		}
	}
	return n
}

// Clock returns the newest prediction time read: the watermark a caller without a clock
// of its own passes to Advance.
func (j *Joiner) Clock() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.predClock
}

// Handler applies prediction and outcome events from the log (a Consume or Replay handler
// over predictions.<model> and outcomes.<model>); other models' events are skipped.
// Messages that do not decode are permanent failures. A prediction message may repeat a
// record another message held (a producer regrouped after a restart); AddPrediction ignores
// the repeat.
func (j *Joiner) Handler() eventlog.Handler {
	psub, osub := predlog.PredictionSubject(j.cfg.Model), predlog.OutcomeSubject(j.cfg.Model)
	decode := predlog.DecodePredictions
	if j.cfg.KeepRows == 0 {
		decode = predlog.DecodeScores // no rows kept: the features are not needed
	}
	return func(_ context.Context, m *eventlog.Message) error {
		switch m.Subject {
		case psub:
			ps, err := decode(m)
			if err != nil {
				return eventlog.Permanent(err)
			}
			for _, p := range ps {
				j.AddPrediction(p)
			}
		case osub:
			o, err := predlog.DecodeOutcome(m)
			if err != nil {
				return eventlog.Permanent(err)
			}
			j.AddOutcome(o)
		}
		return nil
	}
}

// OnlineQuality is a version's quality on its joined predictions.
type OnlineQuality struct {
	Model     string `json:"model"`
	Version   int    `json:"version"`
	Labelled  int    `json:"labelled"`
	Positives int    `json:"positives"`
	// AUC and PrecisionAtK are for classifiers; PositiveRate is the click-through rate for
	// a ranker (the share of joined predictions with a positive outcome).
	AUC          float64 `json:"auc"`
	PrecisionAtK float64 `json:"precision_at_k"`
	K            int     `json:"k"`
	PositiveRate float64 `json:"positive_rate"`
	// PrecisionAtAction and RecallAtAction classify scores at or above the action
	// threshold as positive: what the application's decisions achieved.
	PrecisionAtAction float64 `json:"precision_at_action"`
	RecallAtAction    float64 `json:"recall_at_action"`
	// MeanScore beside PositiveRate shows calibration: a calibrated model's mean score is
	// its positive rate.
	MeanScore float64 `json:"mean_score"`
	// LabelDelayP50 and LabelDelayP90 are event-time delays from prediction to outcome,
	// over outcomes that arrived (implicit negatives have none).
	LabelDelayP50 time.Duration `json:"label_delay_p50"`
	LabelDelayP90 time.Duration `json:"label_delay_p90"`
	// With JoinConfig.Periods: the window's periods [From, To) of prediction time, the
	// predictions made in it (Due), and LabelCoverage = Labelled / Due. PrecisionAtK is
	// the mean over the periods with a labelled prediction of each one's precision at K.
	From          time.Time `json:"from,omitzero"`
	To            time.Time `json:"to,omitzero"`
	Due           int       `json:"due,omitempty"`
	LabelCoverage float64   `json:"label_coverage"`
}

// Quality computes a version's online quality over its window and exports it.
func (j *Joiner) Quality(version int) OnlineQuality {
	j.mu.Lock()
	w := j.versions[version]
	var y, p []float64
	var delays []time.Duration
	var perPeriod []float64 // precision at K of each period with a label (Periods > 0)
	due := 0
	var from, to time.Time
	switch {
	case w != nil && j.cfg.Periods > 0:
		if j.due.IsZero() {
			break
		}
		end := j.periodOf(j.due)
		from, to = time.Unix(0, (end-int64(j.cfg.Periods))*int64(j.cfg.Period)).UTC(), time.Unix(0, end*int64(j.cfg.Period)).UTC()
		for k := end - int64(j.cfg.Periods); k < end; k++ {
			pd := w.periods[k]
			if pd == nil {
				continue
			}
			due += pd.made
			if len(pd.joined) == 0 {
				continue
			}
			py, pp := make([]float64, len(pd.joined)), make([]float64, len(pd.joined))
			for i, x := range pd.joined {
				py[i], pp[i] = x.label, x.score
				if x.delay >= 0 {
					delays = append(delays, x.delay)
				}
			}
			prec, _ := ml.PrecisionRecallAtK(py, pp, j.cfg.K)
			perPeriod = append(perPeriod, prec)
			y, p = append(y, py...), append(p, pp...)
		}
	case w != nil:
		for _, x := range w.ring[:w.n] {
			y, p = append(y, x.label), append(p, x.score)
			if x.delay >= 0 {
				delays = append(delays, x.delay)
			}
		}
	}
	j.mu.Unlock()
	q := OnlineQuality{Model: j.cfg.Model, Version: version, Labelled: len(y), K: min(j.cfg.K, len(y)), AUC: math.NaN(), PrecisionAtK: math.NaN(), PositiveRate: math.NaN(), MeanScore: math.NaN(),
		PrecisionAtAction: math.NaN(), RecallAtAction: math.NaN(), LabelCoverage: math.NaN(), From: from, To: to, Due: due}
	if j.cfg.Periods > 0 {
		q.K = j.cfg.K
		if due > 0 {
			q.LabelCoverage = float64(len(y)) / float64(due)
			j.m.online.WithLabelValues(j.cfg.Model, strconv.Itoa(version), "label_coverage").Set(q.LabelCoverage)
		}
	}
	if len(y) == 0 {
		return q
	}
	var pos, sum float64
	for i := range y {
		if y[i] >= 0.5 {
			pos++
		}
		sum += p[i]
	}
	q.Positives = int(pos)
	q.PositiveRate, q.MeanScore = pos/float64(len(y)), sum/float64(len(y))
	q.AUC = ml.AUC(y, p)
	if j.cfg.Periods > 0 {
		q.PrecisionAtK = 0
		for _, v := range perPeriod {
			q.PrecisionAtK += v
		}
		q.PrecisionAtK /= float64(len(perPeriod))
	} else {
		q.PrecisionAtK, _ = ml.PrecisionRecallAtK(y, p, q.K)
	}
	q.PrecisionAtAction, q.RecallAtAction = ml.PrecisionRecallAt(y, p, j.cfg.ActionThreshold)
	if len(delays) > 0 {
		slices.Sort(delays)
		q.LabelDelayP50, q.LabelDelayP90 = delays[len(delays)/2], delays[len(delays)*9/10]
	}
	v := strconv.Itoa(version)
	for name, val := range map[string]float64{"auc": q.AUC, "precision_at_k": q.PrecisionAtK, "positive_rate": q.PositiveRate, "mean_score": q.MeanScore, "labelled": float64(q.Labelled),
		"recall_at_action": q.RecallAtAction, "precision_at_action": q.PrecisionAtAction} {
		if !math.IsNaN(val) {
			j.m.online.WithLabelValues(j.cfg.Model, v, name).Set(val)
		}
	}
	return q
}

// Versions lists the versions with joined predictions, ascending.
func (j *Joiner) Versions() []int {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]int, 0, len(j.versions))
	for v := range j.versions {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Counts returns how many outcomes had each join result, and how many predictions wait.
func (j *Joiner) Counts() (results map[string]int64, pending int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return maps(j.counts), len(j.pending)
}

func maps(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Labelled returns the kept joined predictions made at or after since as a labelled
// dataset over schema, the training set a retraining builds from what production saw and
// what happened next, with the event-time range of its predictions.
func (j *Joiner) Labelled(schema ml.Schema, since time.Time) (ml.Dataset, time.Time, time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	d := ml.Dataset{Schema: schema, X: make([]float64, 0, len(j.rows)*schema.Len()), Y: make([]float64, 0, len(j.rows))}
	var from, to time.Time
	for i, p := range j.rows {
		if p.Time.Before(since) {
			continue
		}
		d.X = append(d.X, p.Row(schema)...)
		d.Y = append(d.Y, j.rowsY[i])
		if from.IsZero() || p.Time.Before(from) {
			from = p.Time
		}
		if p.Time.After(to) {
			to = p.Time
		}
	}
	return d, from, to
}

// DecayConfig says when online quality has fallen too far below offline.
type DecayConfig struct {
	// EvalSet and Metric name the registry's offline metric: "holdout" / "auc".
	EvalSet string
	Metric  string
	// Tolerance is the drop (in the metric's better direction) that counts as decay; with
	// Relative, a share of the baseline (0.2: a fifth below it).
	Tolerance float64
	Relative  bool
	// MinLabelled and MinPositives are the least evidence to judge on.
	MinLabelled  int
	MinPositives int
}

// DefaultDecayConfig flags a holdout AUC drop of 0.05 or more, on at least 500 labelled
// predictions with 20 positives.
func DefaultDecayConfig() DecayConfig {
	return DecayConfig{EvalSet: "holdout", Metric: ml.MetricAUC, Tolerance: 0.05, MinLabelled: 500, MinPositives: 20}
}

// Decay compares a version's online quality with its registered offline metric.
type Decay struct {
	Model   string  `json:"model"`
	Version int     `json:"version"`
	Metric  string  `json:"metric"`
	Offline float64 `json:"offline"`
	Online  float64 `json:"online"`
	// Drop is offline − online in the metric's better direction: positive means online
	// is worse.
	Drop    float64 `json:"drop"`
	Enough  bool    `json:"enough_evidence"`
	Decayed bool    `json:"decayed"`
}

// CheckDecay is the decay detector: online quality (from joined outcomes) against the
// offline metric the registry recorded for the version. It exports the drop as
// casebook_monitoring_quality_decay.
func (j *Joiner) CheckDecay(v registry.Version, cfg DecayConfig) Decay {
	d := JudgeDecay(j.Quality(v.Number), v.Metrics[cfg.EvalSet][cfg.Metric], cfg)
	d.Model, d.Version = v.Model, v.Number
	if !math.IsNaN(d.Drop) {
		j.m.decay.WithLabelValues(v.Model, strconv.Itoa(v.Number), cfg.Metric).Set(d.Drop)
	}
	return d
}

// JudgeDecay is the decay rule on its own: online quality q against a baseline value of
// cfg.Metric. CheckDecay's baseline is the offline metric the registry recorded; a caller
// may pass another, such as the version's own online quality over its first day (when
// online quality drifts for reasons an offline estimate does not model, like a
// recommender's users running out of unseen favourites).
func JudgeDecay(q OnlineQuality, baseline float64, cfg DecayConfig) Decay {
	d := Decay{Model: q.Model, Version: q.Version, Metric: cfg.Metric, Offline: baseline, Online: math.NaN()}
	switch cfg.Metric {
	case ml.MetricAUC:
		d.Online = q.AUC
	case "precision_at_k":
		d.Online = q.PrecisionAtK
	case ml.MetricPositive, "ctr":
		d.Online = q.PositiveRate
	}
	d.Drop = d.Offline - d.Online
	if ml.LowerIsBetter(cfg.Metric) {
		d.Drop = -d.Drop
	}
	tol := cfg.Tolerance
	if cfg.Relative {
		tol *= math.Abs(baseline)
	}
	d.Enough = q.Labelled >= cfg.MinLabelled && q.Positives >= cfg.MinPositives && !math.IsNaN(d.Online)
	d.Decayed = d.Enough && d.Drop >= tol
	return d
}
