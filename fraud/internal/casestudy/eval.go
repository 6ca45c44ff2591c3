package casestudy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/eval"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/seal"
)

// EvalConfig configures the eval command.
type EvalConfig struct {
	CSV  string
	JSON bool
	// ScoresOut gets MODEL,TRANSACTION_ID,SCORE: every candidate's score of every test
	// transaction of the final split (after known-card removal).
	ScoresOut string
	// Grid names the candidate set (eval.Grids): "default", "small" or "full".
	Grid string
	// Bucket is the feature windows' bucket: txfeatures.ExactBucket (1 s, the handbook's
	// windows exactly) by default; 1 h is what the streaming system runs, to measure what
	// it costs on the protocol.
	Bucket time.Duration
	// Registry, when set, is a registry to register every candidate in and promote the
	// winner through the gates (otherwise a temporary one is used and discarded).
	Registry string
	// OfflineDir, when set, is the feature store's offline store the training set is built
	// through, kept afterwards (otherwise a temporary directory, removed).
	OfflineDir string
	// Keyring, when it holds a key, seals the registry's artifacts and the offline
	// store's Parquet files at rest.
	Keyring  *seal.Keyring
	Model    string // registered model name
	Protocol eval.Config
	Policy   decision.Policy
}

// DefaultEvalConfig uses the handbook's protocol.
func DefaultEvalConfig() EvalConfig {
	return EvalConfig{Model: "fraud", Grid: "default", Bucket: txfeatures.ExactBucket, Protocol: eval.DefaultConfig(), Policy: decision.DefaultPolicy()}
}

// Validate names a missing input or bad protocol.
func (c EvalConfig) Validate() error {
	if c.CSV == "" {
		return errors.New("eval: --csv is required")
	}
	if !registry.ValidName(c.Model) {
		return fmt.Errorf("eval: model name %q is not valid", c.Model)
	}
	if c.Bucket < time.Second || c.Bucket > 24*time.Hour || (24*time.Hour)%c.Bucket != 0 {
		return fmt.Errorf("eval: bucket %v: want 1s to 24h, dividing a day", c.Bucket)
	}
	if _, ok := eval.Grids[c.Grid]; !ok {
		return fmt.Errorf("eval: unknown grid %q (want one of %s)", c.Grid, eval.GridNames())
	}
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	return c.Protocol.Validate()
}

// EvalOutput is what eval prints with --json.
type EvalOutput struct {
	Transactions int `json:"transactions"`
	// Bucket is the feature windows' bucket (1s: exact).
	Bucket string `json:"feature_bucket"`
	// FeatureSecs is the whole training-set build: Build's compute, write and join.
	FeatureSecs float64               `json:"feature_seconds"`
	Build       txfeatures.BuildStats `json:"training_set_build"`
	Report      *eval.Report          `json:"report"`
	Champion    int                   `json:"champion_version"`
	Gates       map[string][]GateLog  `json:"gates"`
	Thresholds  *ThresholdReport      `json:"thresholds,omitempty"`
}

// GateLog is one promotion attempt of a candidate to champion.
type GateLog struct {
	Version int                   `json:"version"`
	Passed  bool                  `json:"passed"`
	Results []registry.GateResult `json:"results"`
}

// Eval runs the protocol on a CSV, registers the candidates and promotes through the gates.
func Eval(ctx context.Context, cfg EvalConfig, stdout io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	txs, err := ReadCSVFile(cfg.CSV)
	if err != nil {
		return err
	}
	start := time.Now()
	x, st, err := BuildTrainingSetBucket(ctx, txs, cfg.OfflineDir, cfg.Keyring, cfg.Bucket)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	out := EvalOutput{Transactions: len(txs), Bucket: cfg.Bucket.String(), FeatureSecs: time.Since(start).Seconds(), Build: st}
	tab := eval.NewTable(txs, x, txfeatures.Names)
	rep, err := eval.Run(ctx, tab, eval.Grids[cfg.Grid](), cfg.Protocol)
	if err != nil {
		return err
	}
	out.Report = rep
	dir := cfg.Registry
	if dir == "" {
		if dir, err = os.MkdirTemp("", "fraud-registry-"); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	if out.Champion, out.Gates, err = Promote(ctx, dir, cfg.Keyring, cfg.Model, tab, rep); err != nil {
		return err
	}
	if len(rep.Folds) > 0 {
		if out.Thresholds, err = Thresholds(tab, rep, cfg.Policy); err != nil {
			rep.Warnings = append(rep.Warnings, err.Error())
		}
	}
	if cfg.ScoresOut != "" {
		if err := writeScores(cfg.ScoresOut, tab, rep); err != nil {
			return err
		}
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printReport(stdout, out)
	return nil
}

// BuildTrainingSet computes txs' features into the offline store in dir and joins them
// point in time to one label row per transaction (txfeatures.Build), with the exact
// one-second buckets. With dir empty the store is a temporary directory, removed after
// the join. A keyring with a key seals the store's Parquet files.
func BuildTrainingSet(ctx context.Context, txs []sim.Transaction, dir string, kr *seal.Keyring) ([]float64, txfeatures.BuildStats, error) {
	return BuildTrainingSetBucket(ctx, txs, dir, kr, txfeatures.ExactBucket)
}

// BuildTrainingSetBucket is BuildTrainingSet with windows of another bucket.
func BuildTrainingSetBucket(ctx context.Context, txs []sim.Transaction, dir string, kr *seal.Keyring, bucket time.Duration) ([]float64, txfeatures.BuildStats, error) {
	reg := features.NewRegistry()
	if err := txfeatures.Register(reg, bucket); err != nil {
		return nil, txfeatures.BuildStats{}, err
	}
	keep := dir != ""
	if !keep {
		var err error
		if dir, err = os.MkdirTemp("", "fraud-offline-"); err != nil {
			return nil, txfeatures.BuildStats{}, fmt.Errorf("training set: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	ocfg := features.DefaultOfflineConfig()
	ocfg.Dir, ocfg.Keyring = dir, kr
	x, st, err := txfeatures.BuildIn(ctx, reg, ocfg, txs)
	if !keep {
		st.Dir = ""
	}
	return x, st, err
}

// FeaturesConfig configures the features command.
type FeaturesConfig struct {
	In, Out string
	// OfflineDir keeps the offline store the features are computed into (default: a
	// temporary directory, removed).
	OfflineDir string
	TimeFmt    sim.TimeFormat
	Keyring    *seal.Keyring // seals the offline store's files when it holds a key
}

// WriteFeatures reads the CSV at cfg.In, builds every transaction's features through the
// offline store and the point-in-time join, and writes the handbook's transformed table
// to cfg.Out in time order. (It lives beside Eval because both build the training set the
// same way; Features in casestudy.go is the older ComputeBatch-lookup path.)
func WriteFeatures(ctx context.Context, cfg FeaturesConfig, log io.Writer) error {
	start := time.Now()
	txs, err := ReadCSVFile(cfg.In)
	if err != nil {
		return err
	}
	read := time.Since(start)
	if err := ctx.Err(); err != nil {
		return err
	}
	x, st, err := BuildTrainingSet(ctx, txs, cfg.OfflineDir, cfg.Keyring)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	f, err := os.Create(cfg.Out)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if err := txfeatures.WriteCSV(f, txs, x, cfg.TimeFmt); err != nil {
		f.Close()
		return fmt.Errorf("features: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	fmt.Fprintf(log, "features for %d transactions: read %v, %s, total %v\n",
		len(txs), read.Round(time.Millisecond), buildLine(st), time.Since(start).Round(time.Millisecond))
	return nil
}

func buildLine(st txfeatures.BuildStats) string {
	s := fmt.Sprintf("compute %.2fs, offline-store write %.2fs, point-in-time join %.2fs (%d customer and %d terminal rows",
		st.ComputeSeconds, st.WriteSeconds, st.JoinSeconds, st.CustomerRows, st.TerminalRows)
	if st.Dir != "" {
		s += " kept in " + st.Dir
	}
	return s + ")"
}

// TrainConfig configures the train command: the training set of every transaction in a
// CSV, and the time to train each model on all of it.
type TrainConfig struct {
	CSV        string
	OfflineDir string
	Keyring    *seal.Keyring // seals the offline store's files when it holds a key
	JSON       bool
	// Models are the candidates (eval.DefaultCandidates names) to train.
	Models []string
}

// DefaultTrainConfig trains logistic regression and boosted trees of depth 6 (100 trees).
func DefaultTrainConfig() TrainConfig { return TrainConfig{Models: []string{"logreg", "gbdt_d6"}} }

// TrainOutput is what train prints with --json.
type TrainOutput struct {
	Transactions int                   `json:"transactions"`
	ReadSeconds  float64               `json:"read_seconds"`
	Build        txfeatures.BuildStats `json:"training_set_build"`
	Models       []TrainedModel        `json:"models"`
}

// TrainedModel is one model trained on the whole training set.
type TrainedModel struct {
	Name         string      `json:"name"`
	TrainSeconds float64     `json:"train_seconds"`
	TrainAUC     eval.Metric `json:"in_sample_auc"`
}

// Train builds the training set of every transaction in cfg.CSV through the offline store
// and the point-in-time join, then trains each model on all of it, timing each step. It
// measures cost at full size, not quality: the AUC printed is in-sample.
func Train(ctx context.Context, cfg TrainConfig, stdout io.Writer) error {
	if cfg.CSV == "" {
		return errors.New("train: --csv is required")
	}
	cands := map[string]eval.Candidate{}
	for _, c := range eval.DefaultCandidates() {
		cands[c.Name] = c
	}
	for _, m := range cfg.Models {
		if _, ok := cands[m]; !ok {
			return fmt.Errorf("train: unknown model %q", m)
		}
	}
	start := time.Now()
	txs, err := ReadCSVFile(cfg.CSV)
	if err != nil {
		return err
	}
	out := TrainOutput{Transactions: len(txs), ReadSeconds: time.Since(start).Seconds()}
	x, st, err := BuildTrainingSet(ctx, txs, cfg.OfflineDir, cfg.Keyring)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	out.Build = st
	if !cfg.JSON {
		fmt.Fprintf(stdout, "%d transactions: read %.1fs; training set: %s\n", out.Transactions, out.ReadSeconds, buildLine(st))
	}
	d := ml.Dataset{Schema: ml.FloatSchema(txfeatures.Names...), X: x, Y: make([]float64, len(txs))}
	for i, tx := range txs {
		if tx.Fraud {
			d.Y[i] = 1
		}
	}
	p := make([]float64, len(txs))
	for _, name := range cfg.Models {
		t0 := time.Now()
		m, err := cands[name].Train(ctx, d)
		if err != nil {
			return fmt.Errorf("train %s: %w", name, err)
		}
		tm := TrainedModel{Name: name, TrainSeconds: time.Since(t0).Seconds()}
		if err := m.Predict(d.Batch(), p); err != nil {
			return fmt.Errorf("train %s: predict: %w", name, err)
		}
		tm.TrainAUC = eval.Metric(ml.AUC(d.Y, p))
		out.Models = append(out.Models, tm)
		if !cfg.JSON {
			fmt.Fprintf(stdout, "%s: trained on %d rows in %.1fs (in-sample AUC %.3f)\n", name, len(txs), tm.TrainSeconds, float64(tm.TrainAUC))
		}
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return nil
}

// FairnessSlices are the segments of the test week whose metrics go on each candidate's
// card: amount bands, weekend and night transactions. The simulated customers have no
// protected attributes; these are the segments a fraud team is asked about (are small
// payments or night-time ones caught as well as the rest?).
var FairnessSlices = []pipeline.Slice{
	{Name: "amount", Feature: "TX_AMOUNT", Cuts: []float64{50, 100, 200}},
	{Name: "weekend", Feature: "TX_DURING_WEEKEND", Cuts: []float64{0.5}, Labels: []string{"weekday", "weekend"}},
	{Name: "night", Feature: "TX_DURING_NIGHT", Cuts: []float64{0.5}, Labels: []string{"day", "night"}},
}

// Version reads one version of model from the fs registry at dir (what Promote wrote).
func Version(ctx context.Context, dir, model string, version int) (registry.Version, error) {
	fcfg := regfs.DefaultConfig()
	fcfg.Dir = dir
	store, err := regfs.Open(fcfg)
	if err != nil {
		return registry.Version{}, err
	}
	reg, err := registry.New(store, registry.DefaultConfig())
	if err != nil {
		return registry.Version{}, err
	}
	return reg.Resolve(ctx, model, strconv.Itoa(version))
}

// GateMetric is the metric the champion gate compares: mean prequential card precision.
const GateMetric = "card_precision_at_100"

// Promote registers every candidate's final model as a version of model in an fs
// registry at dir, with its prequential and test metrics, and tries to move the champion
// alias to each in turn; the gates (prequential card precision no worse than the holder's,
// p99 single-row latency within 2 ms) decide which one ends up champion.
func Promote(ctx context.Context, dir string, kr *seal.Keyring, model string, tab *eval.Table, rep *eval.Report) (int, map[string][]GateLog, error) {
	fcfg := regfs.DefaultConfig()
	fcfg.Dir = dir
	store, err := regfs.Open(fcfg)
	if err != nil {
		return 0, nil, fmt.Errorf("eval: registry: %w", err)
	}
	rcfg := registry.DefaultConfig()
	rcfg.Keyring = kr
	reg, err := registry.New(store, rcfg)
	if err != nil {
		return 0, nil, fmt.Errorf("eval: registry: %w", err)
	}
	gates := registry.Gates{EvalSet: "prequential", Metric: GateMetric, LatencyBudget: 2 * time.Millisecond}
	logs := map[string][]GateLog{}
	champion := 0
	for _, m := range rep.Models {
		art, err := m.Model.MarshalBinary()
		if err != nil {
			return 0, nil, fmt.Errorf("eval: encode %s: %w", m.Name, err)
		}
		rows := m.TestResult.Rows
		test := tab.Dataset(rows[:min(len(rows), 2000)])
		lat, err := ml.MeasureLatency(m.Model, test.Batch(), 1000)
		if err != nil {
			return 0, nil, fmt.Errorf("eval: latency %s: %w", m.Name, err)
		}
		train := tab.Dataset(tab.Rows(rep.Split.TrainStart, rep.Split.TrainDays))
		all := tab.Dataset(rows)
		segs, err := pipeline.EvaluateSlices(m.Model, all, FairnessSlices)
		if err != nil {
			return 0, nil, fmt.Errorf("eval: slices %s: %w", m.Name, err)
		}
		imp, err := pipeline.GlobalImportance(m.Model, all, "test", pipeline.DefaultImportanceRows)
		if err != nil {
			return 0, nil, fmt.Errorf("eval: importance %s: %w", m.Name, err)
		}
		v, _, err := reg.Register(ctx, registry.RegisterRequest{Data: art, Version: registry.Version{
			Model: model, Family: string(m.Model.Family()), Schema: m.Model.Schema(),
			Metrics: map[string]ml.Metrics{
				"prequential": finite(ml.Metrics{GateMetric: float64(m.PrequentialCP), ml.MetricAUC: float64(m.PrequentialAUC), "average_precision": float64(m.PrequentialAP)}),
				"test":        finite(ml.Metrics{GateMetric: float64(m.Test.MeanCP), ml.MetricAUC: float64(m.Test.AUC), "average_precision": float64(m.Test.AP)}),
			},
			PredictP99:      lat.P99,
			DataFingerprint: train.Fingerprint(),
			CodeVersion:     "fraud eval",
			Params:          map[string]string{"candidate": m.Name, "train_start_day": strconv.Itoa(rep.Split.TrainStart)},
			RegisteredBy:    "fraud eval",
			Description:     "Handbook protocol: 7 days train, 7 delay, 7 test; candidate " + m.Name + ".",
			Slices:          segs,
			Importance:      imp,
		}})
		if err != nil {
			return 0, nil, fmt.Errorf("eval: register %s: %w", m.Name, err)
		}
		mv, err := reg.Promote(ctx, registry.PromoteRequest{Model: model, Alias: registry.Champion, Version: v.Number,
			Actor: "fraud eval", Reason: "prequential selection", Gates: gates})
		var ge *registry.GateError
		switch {
		case err == nil:
			champion = v.Number
			logs[m.Name] = append(logs[m.Name], GateLog{Version: v.Number, Passed: true, Results: mv.Gates})
		case errors.As(err, &ge):
			logs[m.Name] = append(logs[m.Name], GateLog{Version: v.Number, Results: ge.Results})
		default:
			return 0, nil, fmt.Errorf("eval: promote %s: %w", m.Name, err)
		}
	}
	return champion, logs, nil
}

func finite(m ml.Metrics) ml.Metrics {
	for k, v := range m {
		if v != v {
			delete(m, k)
		}
	}
	return m
}

func writeScores(path string, tab *eval.Table, rep *eval.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("scores: %w", err)
	}
	if _, err := f.WriteString("MODEL,TRANSACTION_ID,SCORE\n"); err != nil {
		f.Close()
		return fmt.Errorf("scores: %w", err)
	}
	for _, m := range rep.Models {
		var buf []byte
		for i, r := range m.TestResult.Rows {
			buf = append(buf, m.Name...)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, tab.Txs[r].ID, 10)
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, m.TestResult.Scores[i], 'g', -1, 64)
			buf = append(buf, '\n')
		}
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("scores: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("scores: %w", err)
	}
	return nil
}

func printReport(w io.Writer, out EvalOutput) {
	rep := out.Report
	s := rep.Split
	fmt.Fprintf(w, "%d transactions; training set (%v buckets) in %.1fs: %s\n", out.Transactions, out.Bucket, out.FeatureSecs, buildLine(out.Build))
	fmt.Fprintf(w, "train days %d-%d, delay %d days, test days %d-%d; %d prequential folds (training from days %v)\n\n",
		s.TrainStart, s.TrainStart+s.TrainDays-1, s.DelayDays, s.TestStart(), s.TestStart()+s.TestDays-1, len(rep.Folds), foldStarts(rep.Folds))
	fmt.Fprintf(w, "validation: mean over the %d prequential folds (never the test days); test week: days %d-%d alone; test estimate: mean ± std over %d test folds a week apart (%s)\n",
		len(rep.Folds), s.TestStart(), s.TestStart()+s.TestDays-1, len(rep.TestFolds), testFoldDays(rep.TestFolds))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "model\tval CP@%d\tval AP\tval AUC\tweek AUC\tweek AP\tweek CP@%d\ttest est. AUC\ttest est. AP\ttest est. CP@%d\ttrain s\t\n", rep.TopK, rep.TopK, rep.TopK)
	for _, m := range rep.Models {
		e := m.TestEstimate
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%s\t%.2f\t\n", m.Name, m.PrequentialCP, m.PrequentialAP, m.PrequentialAUC,
			m.Test.AUC, m.Test.AP, m.Test.MeanCP, pm(e.AUC), pm(e.AP), pm(e.CP), m.TrainSeconds)
	}
	tw.Flush()
	if len(rep.Models) > 0 {
		fmt.Fprintf(w, "train s: training on the final split's %d rows\n", rep.Models[0].TrainRows)
	}
	fmt.Fprintln(w)
	for _, m := range rep.Models {
		if m.Name != rep.Selected {
			continue
		}
		fmt.Fprintf(w, "%s card precision@%d per day of the test week:", m.Name, rep.TopK)
		for _, d := range m.Test.CardPrecision {
			fmt.Fprintf(w, " %.2f", d.Precision)
		}
		fmt.Fprintf(w, "\n\nprequential test estimate of the selected model, %s:\n", m.Name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "fold\ttrain days\ttest days\tAUC\tAP\tCP@%d\t\n", rep.TopK)
		for i, f := range m.TestFolds {
			fs := f.Split
			fmt.Fprintf(tw, "%d\t%d-%d\t%d-%d\t%.3f\t%.3f\t%.3f\t\n", i, fs.TrainStart, fs.TrainStart+fs.TrainDays-1,
				fs.TestStart(), fs.TestStart()+fs.TestDays-1, f.AUC, f.AP, f.MeanCP)
		}
		e := m.TestEstimate
		fmt.Fprintf(tw, "mean ± std\t\t\t%s\t%s\t%s\t\n", pm(e.AUC), pm(e.AP), pm(e.CP))
		tw.Flush()
		fmt.Fprintf(w, "published (the handbook's model-selection chapter, mean over its test folds): XGBoost AUC 0.869, AP 0.687, CP@100 0.303; random forest 0.870, 0.678, 0.299\n")
	}
	fmt.Fprintf(w, "\nselected by prequential card precision: %s; registry champion: version %d\n", rep.Selected, out.Champion)
	for _, m := range rep.Models {
		for _, g := range out.Gates[m.Name] {
			verdict := "refused"
			if g.Passed {
				verdict = "promoted"
			}
			fmt.Fprintf(w, "  %s v%d %s:", m.Name, g.Version, verdict)
			for _, r := range g.Results {
				fmt.Fprintf(w, " [%s passed=%v %s]", r.Gate, r.Passed, r.Detail)
			}
			fmt.Fprintln(w)
		}
	}
	if th := out.Thresholds; th != nil {
		t := th.Thresholds
		fmt.Fprintf(w, "\ndecision thresholds for %s (chosen on the newest validation fold for %d cards/day and recall %.2f):\n",
			th.Model, th.Policy.ReviewBudget, th.Policy.TargetRecall)
		fmt.Fprintf(w, "  review at score ≥ %.4g, decline at ≥ %.4g; validation: %.1f flagged cards/day, recall %.3f, target met %v, decline precision %.3f\n",
			t.Review, t.Decline, t.ReviewsPerDay, t.Recall, t.RecallTargetMet, t.DeclinePrecision)
		fmt.Fprintf(w, "  on the test days: %.1f flagged cards/day, recall %.3f, %d declines at precision %.3f\n",
			th.TestReviewsPerDay, th.TestRecall, th.TestDeclines, th.TestDeclinePrecision)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
}

func pm(m eval.MeanStd) string { return fmt.Sprintf("%.3f±%.3f", m.Mean, m.Std) }

func testFoldDays(fs []eval.Split) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%d-%d", f.TestStart(), f.TestStart()+f.TestDays-1))
	}
	return "test days " + strings.Join(parts, ", ")
}

func foldStarts(fs []eval.Split) []int {
	out := make([]int, len(fs))
	for i, f := range fs {
		out[i] = f.TrainStart
	}
	return out
}
