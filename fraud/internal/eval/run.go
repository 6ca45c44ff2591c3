package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

// HandbookTrainStart is the handbook's first training day, 2018-07-25, counted from its
// 2018-04-01 day 0.
const HandbookTrainStart = 115

// Config sets the protocol.
type Config struct {
	// Split's TrainStart < 0 picks HandbookTrainStart when the data covers it, else the
	// latest block that fits.
	Split Split
	TopK  int
	// Folds prequential validation blocks, each FoldShiftDays earlier than the last; the
	// newest tests on the final block's training days, so selection never sees the test.
	Folds, FoldShiftDays int
	// TestFolds is the prequential test estimate (the handbook's model-selection
	// chapter): the final split and TestFolds-1 copies of it, each FoldShiftDays earlier
	// with its own training window, every candidate trained and tested on each; the
	// metrics' mean and standard deviation over them compare with the handbook's tables.
	// 1 is the single test week alone.
	TestFolds int
}

// DefaultConfig is the handbook's: 7 days of training, 7 of delay, 7 of test, card
// precision@100, 4 prequential folds a week apart.
func DefaultConfig() Config {
	return Config{Split: Split{TrainStart: -1, TrainDays: 7, DelayDays: 7, TestDays: 7}, TopK: 100, Folds: 4, FoldShiftDays: 7, TestFolds: 4}
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Split.TrainDays < 1 || c.Split.TestDays < 1 || c.Split.DelayDays < 0:
		return fmt.Errorf("eval config: train %d, delay %d, test %d days: want ≥ 1, ≥ 0, ≥ 1",
			c.Split.TrainDays, c.Split.DelayDays, c.Split.TestDays)
	case c.TopK < 1:
		return fmt.Errorf("eval config: top k %d < 1", c.TopK)
	case c.Folds < 0 || (c.Folds > 0 && c.FoldShiftDays < 1):
		return fmt.Errorf("eval config: %d folds shifted %d days", c.Folds, c.FoldShiftDays)
	case c.TestFolds < 1 || (c.TestFolds > 1 && c.FoldShiftDays < 1):
		return fmt.Errorf("eval config: %d test folds shifted %d days: want ≥ 1", c.TestFolds, c.FoldShiftDays)
	}
	return nil
}

// Candidate is a model family and configuration to train.
type Candidate struct {
	Name  string
	Train func(ctx context.Context, d ml.Dataset) (ml.Model, error)
}

// DefaultCandidates are logistic regression (the handbook's baseline) and two boosted-tree
// configurations.
func DefaultCandidates() []Candidate {
	gb := func(trees, depth int) ml.GBDTConfig {
		c := ml.DefaultGBDTConfig()
		c.Trees, c.MaxDepth, c.MaxLeaves = trees, depth, 1<<depth
		return c
	}
	return []Candidate{LogRegCandidate(), GBDTCandidate("gbdt_d3", gb(100, 3)), GBDTCandidate("gbdt_d6", gb(100, 6))}
}

// Summary is a Result without its per-row scores.
type Summary struct {
	Split         Split          `json:"split"`
	AUC           Metric         `json:"auc"`
	AP            Metric         `json:"average_precision"`
	MeanCP        Metric         `json:"card_precision_at_k"`
	CardPrecision []DayPrecision `json:"card_precision_per_day"`
	TiedShare     float64        `json:"tied_share"`
	TestRows      int            `json:"test_transactions"`
}

func summarize(s Split, r Result) Summary {
	return Summary{Split: s, AUC: Metric(r.AUC), AP: Metric(r.AP), MeanCP: Metric(r.MeanCP), CardPrecision: r.CardPrecision, TiedShare: r.TiedShare, TestRows: len(r.Rows)}
}

// ModelReport is one candidate's prequential and test results.
type ModelReport struct {
	Name string `json:"name"`
	// Prequential holds each validation fold; the means drive selection.
	Prequential    []Summary `json:"prequential"`
	PrequentialCP  Metric    `json:"prequential_card_precision_at_k"`
	PrequentialAP  Metric    `json:"prequential_average_precision"`
	PrequentialAUC Metric    `json:"prequential_auc"`
	Test           Summary   `json:"test"`
	// TestFolds are the prequential test folds, the final split first; TestEstimate their
	// metrics' mean and standard deviation.
	TestFolds    []Summary `json:"test_folds"`
	TestEstimate Estimate  `json:"test_estimate"`
	// TrainSeconds is the training time on the final split's TrainRows rows.
	TrainSeconds float64 `json:"train_seconds"`
	TrainRows    int     `json:"train_rows"`
	// Model is the model trained on the final split's training days; TestResult its scores.
	Model      ml.Model `json:"-"`
	TestResult Result   `json:"-"`
	// FoldResults hold each prequential fold's scores, newest first.
	FoldResults []Result `json:"-"`
}

// Report is the whole protocol's outcome.
type Report struct {
	Split Split   `json:"split"`
	TopK  int     `json:"top_k"`
	Folds []Split `json:"folds"`
	// TestFolds are the prequential test estimate's blocks, the final split first.
	TestFolds []Split       `json:"test_folds"`
	Models    []ModelReport `json:"models"`
	Selected  string        `json:"selected"`
	Warnings  []string      `json:"warnings,omitempty"`
}

// ResolveSplit fills in an automatic TrainStart and checks the split fits.
func ResolveSplit(t *Table, s Split) (Split, error) {
	if s.TrainStart < 0 {
		s.TrainStart = HandbookTrainStart
		if t.Check(s) != nil {
			_, last := t.Days()
			s.TrainStart = last - (s.TrainDays + s.DelayDays + s.TestDays) + 1
		}
	}
	if err := t.Check(s); err != nil {
		return s, fmt.Errorf("eval: %w", err)
	}
	return s, nil
}

// Run trains every candidate on each prequential fold and on the final split, scores
// them, and selects the candidate with the best mean prequential card precision (ties: the
// better average precision; without folds: the test values, and a warning).
func Run(ctx context.Context, t *Table, cands []Candidate, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := ResolveSplit(t, cfg.Split)
	if err != nil {
		return nil, err
	}
	rep := &Report{Split: s, TopK: cfg.TopK}
	// Validation blocks end where the final training starts: the newest tests on the final
	// training days.
	valid := s.Shift(-(s.DelayDays + s.TestDays))
	for f := range cfg.Folds {
		fs := valid.Shift(-f * cfg.FoldShiftDays)
		if t.Check(fs) != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("only %d of %d prequential folds fit in the data", f, cfg.Folds))
			break
		}
		rep.Folds = append(rep.Folds, fs)
	}
	rep.TestFolds = []Split{s}
	for f := 1; f < cfg.TestFolds; f++ {
		fs := s.Shift(-f * cfg.FoldShiftDays)
		if t.Check(fs) != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("only %d of %d prequential test folds fit in the data", f, cfg.TestFolds))
			break
		}
		rep.TestFolds = append(rep.TestFolds, fs)
	}
	for _, c := range cands {
		mr := ModelReport{Name: c.Name}
		for _, fs := range rep.Folds {
			r, _, _, err := trainScore(ctx, t, c, fs, cfg.TopK)
			if err != nil {
				return nil, fmt.Errorf("eval %s fold from day %d: %w", c.Name, fs.TrainStart, err)
			}
			mr.Prequential = append(mr.Prequential, summarize(fs, r))
			mr.FoldResults = append(mr.FoldResults, r)
			n := float64(len(rep.Folds))
			mr.PrequentialCP += Metric(r.MeanCP / n)
			mr.PrequentialAP += Metric(r.AP / n)
			mr.PrequentialAUC += Metric(r.AUC / n)
		}
		r, m, dur, err := trainScore(ctx, t, c, s, cfg.TopK)
		if err != nil {
			return nil, fmt.Errorf("eval %s: %w", c.Name, err)
		}
		mr.Test, mr.Model, mr.TestResult, mr.TrainSeconds = summarize(s, r), m, r, dur.Seconds()
		mr.TrainRows = len(t.Rows(s.TrainStart, s.TrainDays))
		mr.TestFolds = []Summary{mr.Test}
		for _, fs := range rep.TestFolds[1:] {
			fr, _, _, err := trainScore(ctx, t, c, fs, cfg.TopK)
			if err != nil {
				return nil, fmt.Errorf("eval %s test fold from day %d: %w", c.Name, fs.TrainStart, err)
			}
			mr.TestFolds = append(mr.TestFolds, summarize(fs, fr))
		}
		mr.TestEstimate = estimate(mr.TestFolds)
		rep.Models = append(rep.Models, mr)
		ties := 0
		for _, d := range r.CardPrecision {
			if d.BoundaryTie {
				ties++
			}
		}
		if ties > 0 || r.TiedShare > 0.5 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf(
				"%s: %.0f%% of test scores are shared with another transaction and on %d of %d days the %d-th and %d-th cards tie: card precision@%d depends on how ties are ordered (here by card id)",
				c.Name, 100*r.TiedShare, ties, len(r.CardPrecision), cfg.TopK, cfg.TopK+1, cfg.TopK))
		}
	}
	best := -1
	key := func(m ModelReport) (Metric, Metric) {
		if len(rep.Folds) == 0 {
			return m.Test.MeanCP, m.Test.AP
		}
		return m.PrequentialCP, m.PrequentialAP
	}
	for i, m := range rep.Models {
		if best < 0 {
			best = i
			continue
		}
		cp, ap := key(m)
		bcp, bap := key(rep.Models[best])
		if cp > bcp || (cp == bcp && ap > bap) {
			best = i
		}
	}
	if best >= 0 {
		rep.Selected = rep.Models[best].Name
	}
	if len(rep.Folds) == 0 && len(cands) > 1 {
		rep.Warnings = append(rep.Warnings, "no prequential fold fits: the model was selected on the test block itself, which flatters it")
	}
	return rep, nil
}

func trainScore(ctx context.Context, t *Table, c Candidate, s Split, k int) (Result, ml.Model, time.Duration, error) {
	train := t.Dataset(t.Rows(s.TrainStart, s.TrainDays))
	start := time.Now()
	m, err := c.Train(ctx, train)
	if err != nil {
		return Result{}, nil, 0, fmt.Errorf("train: %w", err)
	}
	dur := time.Since(start)
	days := t.TestDays(s)
	var rows []int
	for _, d := range days {
		rows = append(rows, d...)
	}
	test := t.Dataset(rows)
	p := make([]float64, len(rows))
	if err := m.Predict(test.Batch(), p); err != nil {
		return Result{}, nil, 0, fmt.Errorf("predict: %w", err)
	}
	scores := make(map[int]float64, len(rows))
	for i, r := range rows {
		scores[r] = p[i]
	}
	return Score(t, days, scores, k), m, dur, nil
}

// MeanStd is a metric's mean over folds and its sample standard deviation (n−1, as
// pandas' std, which the handbook's tables use; 0 for one fold).
type MeanStd struct {
	Mean Metric `json:"mean"`
	Std  Metric `json:"std"`
}

// Estimate is the prequential estimate of the three metrics over a set of folds.
type Estimate struct {
	Folds int     `json:"folds"`
	AUC   MeanStd `json:"auc"`
	AP    MeanStd `json:"average_precision"`
	CP    MeanStd `json:"card_precision_at_k"`
}

func estimate(folds []Summary) Estimate {
	e := Estimate{Folds: len(folds)}
	into := []*MeanStd{&e.AUC, &e.AP, &e.CP}
	for i, get := range []func(Summary) Metric{
		func(s Summary) Metric { return s.AUC },
		func(s Summary) Metric { return s.AP },
		func(s Summary) Metric { return s.MeanCP },
	} {
		v := make([]float64, len(folds))
		for j, f := range folds {
			v[j] = float64(get(f))
		}
		*into[i] = meanStd(v)
	}
	return e
}

func meanStd(v []float64) MeanStd {
	if len(v) == 0 {
		return MeanStd{Mean: Metric(math.NaN()), Std: Metric(math.NaN())}
	}
	m := 0.0
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	if len(v) == 1 {
		return MeanStd{Mean: Metric(m)}
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return MeanStd{Mean: Metric(m), Std: Metric(math.Sqrt(ss / float64(len(v)-1)))}
}

// Metric is a float that encodes NaN (a metric undefined on one class) as JSON null.
type Metric float64

// MarshalJSON writes null for NaN and ±Inf.
func (m Metric) MarshalJSON() ([]byte, error) {
	f := float64(m)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}
