package ml

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// The metric names Evaluate reports; the registry's gates name them.
const (
	MetricAUC      = "auc"
	MetricAP       = "average_precision"
	MetricLogLoss  = "logloss"
	MetricBrier    = "brier"
	MetricECE      = "calibration_error"
	MetricRows     = "rows"
	MetricPositive = "positive_rate"
	// MetricReferenceLogLoss is the log loss of reference probabilities on the same rows
	// (a simulator's own click probabilities: the best achievable), and
	// MetricLogLossRatio the model's log loss over it; the pipeline records both when its
	// source gives a reference, and a gate floor on the ratio (say ≤ 1.02) is a bar
	// relative to the best possible.
	MetricReferenceLogLoss = "reference_logloss"
	MetricLogLossRatio     = "logloss_over_reference"
)

// LowerIsBetter reports whether a smaller value of the named metric is better: the
// built-in losses, and the metrics declared with DeclareLowerIsBetter.
func LowerIsBetter(metric string) bool {
	switch metric {
	case MetricLogLoss, MetricBrier, MetricECE, MetricLogLossRatio:
		return true
	}
	_, ok := lowerIsBetter.Load(metric)
	return ok
}

// lowerIsBetter holds the declared metric names.
var lowerIsBetter sync.Map

// DeclareLowerIsBetter records that a smaller value of the named metric is better (a
// pipeline's own evaluation metric, an error rate say), so gates compare it that way in
// this process. Metrics not declared are higher-is-better unless built in.
func DeclareLowerIsBetter(metric string) { lowerIsBetter.Store(metric, struct{}{}) }

// order returns row indexes sorted by descending score, ties by index.
func order(p []float64) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return 0
	})
	return idx
}

// AUC is the area under the ROC curve: the probability that a random positive scores above
// a random negative, a tie counting one half. Labels are 0/1 (≥ 0.5 counts as positive).
// It is NaN when either class is absent or a score is NaN.
func AUC(y, p []float64) float64 {
	if slices.ContainsFunc(p, math.IsNaN) {
		return math.NaN() // a NaN ties with nothing, not even itself: no ranking to measure
	}
	idx := order(p)
	n := len(idx)
	var pos, neg float64
	rankSumPos := 0.0 // ranks ascending: the lowest score has rank 1
	for i := 0; i < n; {
		j := i
		for j < n && p[idx[j]] == p[idx[i]] {
			j++
		}
		// rows i..j-1 tie; in ascending order they occupy ranks n-j+1 .. n-i, mean:
		mid := float64(2*n-i-j+1) / 2
		for _, r := range idx[i:j] {
			if y[r] >= 0.5 {
				pos++
				rankSumPos += mid
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSumPos - pos*(pos+1)/2) / (pos * neg)
}

// AveragePrecision is Σ_k (R_k − R_{k−1}) · P_k over the distinct score thresholds taken
// from high to low, tied scores entering together (the step-wise area under the
// precision-recall curve, as scikit-learn computes it). NaN without positives or with a
// NaN score.
func AveragePrecision(y, p []float64) float64 {
	if slices.ContainsFunc(p, math.IsNaN) {
		return math.NaN()
	}
	idx := order(p)
	total := 0.0
	for _, v := range y {
		if v >= 0.5 {
			total++
		}
	}
	if total == 0 {
		return math.NaN()
	}
	var tp, seen, ap, prevRecall float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			if y[idx[j]] >= 0.5 {
				tp++
			}
			seen++
			j++
		}
		recall := tp / total
		ap += (recall - prevRecall) * (tp / seen)
		prevRecall = recall
		i = j
	}
	return ap
}

// LogLoss is the mean negative log-likelihood, with p clipped to [1e-15, 1−1e-15]. Soft
// labels are allowed.
func LogLoss(y, p []float64) float64 {
	s := 0.0
	for i, v := range p {
		q := math.Min(math.Max(v, 1e-15), 1-1e-15)
		s -= y[i]*math.Log(q) + (1-y[i])*math.Log(1-q)
	}
	return s / float64(len(p))
}

// Brier is the mean squared error of the probabilities.
func Brier(y, p []float64) float64 {
	s := 0.0
	for i, v := range p {
		d := v - y[i]
		s += d * d
	}
	return s / float64(len(p))
}

// CalibrationError is the expected calibration error over bins equal-width bins of the
// predicted probability: Σ_b (n_b / n) · |mean label_b − mean prediction_b|.
func CalibrationError(y, p []float64, bins int) float64 {
	cnt := make([]float64, bins)
	sy := make([]float64, bins)
	sp := make([]float64, bins)
	for i, v := range p {
		b := min(int(v*float64(bins)), bins-1)
		b = max(b, 0)
		cnt[b]++
		sy[b] += y[i]
		sp[b] += v
	}
	e := 0.0
	for b := range cnt {
		if cnt[b] > 0 {
			e += math.Abs(sy[b]-sp[b]) / float64(len(p))
		}
	}
	return e
}

// PrecisionRecallAt classifies p ≥ threshold as positive. Precision is NaN when nothing is
// predicted positive, recall NaN when there are no positives.
func PrecisionRecallAt(y, p []float64, threshold float64) (precision, recall float64) {
	var tp, fp, fn float64
	for i, v := range p {
		pos := y[i] >= 0.5
		switch {
		case v >= threshold && pos:
			tp++
		case v >= threshold:
			fp++
		case pos:
			fn++
		}
	}
	return tp / (tp + fp), tp / (tp + fn)
}

// PrecisionRecallAtK takes the k highest scores (ties broken by row order) as positive.
func PrecisionRecallAtK(y, p []float64, k int) (precision, recall float64) {
	idx := order(p)
	k = min(k, len(idx))
	var tp, total float64
	for i, r := range idx {
		if y[r] >= 0.5 {
			total++
			if i < k {
				tp++
			}
		}
	}
	return tp / float64(k), tp / total
}

// Metrics maps a metric name to its value.
type Metrics map[string]float64

// Evaluate predicts d with m and computes AUC, average precision, log loss, Brier score and
// calibration error (10 bins).
func Evaluate(m Model, d Dataset) (Metrics, error) {
	return EvaluateCalibrated(m, d, Platt{A: 1})
}

// EvaluateCalibrated is Evaluate with the calibration map c applied to the model's
// predictions (through their logits), then each row's exposure multiplied in
// (Dataset.Exposure): the probability of the label the row actually has.
func EvaluateCalibrated(m Model, d Dataset, c Platt) (Metrics, error) {
	p, err := PredictRows(m, d, c)
	if err != nil {
		return nil, err
	}
	return Score(d.Y, p), nil
}

// PredictRows is EvaluateCalibrated's predictions: the model's, calibrated by c, times
// each row's exposure.
func PredictRows(m Model, d Dataset, c Platt) ([]float64, error) {
	if err := d.Validate(false); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	p := make([]float64, d.Rows())
	if err := m.Predict(d.Batch(), p); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if !c.Identity() {
		for i, q := range p {
			q = math.Min(math.Max(q, 1e-15), 1-1e-15)
			p[i] = c.Prob(math.Log(q / (1 - q)))
		}
	}
	for i, e := range d.Exposure {
		p[i] *= e
	}
	return p, nil
}

// Score computes Evaluate's metrics from labels and predictions.
func Score(y, p []float64) Metrics {
	pos := 0.0
	for _, v := range y {
		pos += v
	}
	return Metrics{
		MetricAUC:      AUC(y, p),
		MetricAP:       AveragePrecision(y, p),
		MetricLogLoss:  LogLoss(y, p),
		MetricBrier:    Brier(y, p),
		MetricECE:      CalibrationError(y, p, 10),
		MetricRows:     float64(len(y)),
		MetricPositive: pos / float64(len(y)),
	}
}
