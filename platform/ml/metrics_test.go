package ml

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestMetricsByHand(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		// 4 pos×neg pairs; the pair (0.35 vs 0.4) is mis-ordered: 3/4.
		{"AUC", AUC([]float64{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}), 0.75},
		// pairs: (0.5 vs 0.5) tie = ½, (0.5 vs 0.2), (0.9 vs 0.5), (0.9 vs 0.2): 3.5/4.
		{"AUC ties", AUC([]float64{0, 1, 0, 1}, []float64{0.5, 0.5, 0.2, 0.9}), 0.875},
		{"AUC all tied", AUC([]float64{0, 1, 0, 1}, []float64{0.3, 0.3, 0.3, 0.3}), 0.5},
		// thresholds 0.8 (R .5, P 1), 0.4 (R .5), 0.35 (R 1, P 2/3): .5 + .5·2/3.
		{"AP", AveragePrecision([]float64{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}), 0.5 + 0.5*2.0/3},
		// tied 0.5 group enters at once (R .5, P .5), then 0.1 (R 1, P 2/3).
		{"AP ties", AveragePrecision([]float64{1, 0, 1}, []float64{0.5, 0.5, 0.1}), 0.25 + 0.5*2.0/3},
		{"LogLoss", LogLoss([]float64{1, 0}, []float64{0.8, 0.4}), -(math.Log(0.8) + math.Log(0.6)) / 2},
		{"LogLoss clipped", LogLoss([]float64{1}, []float64{0}), -math.Log(1e-15)},
		{"Brier", Brier([]float64{1, 0, 1}, []float64{0.9, 0.2, 0.6}), (0.01 + 0.04 + 0.16) / 3},
		// bin [0,.5): labels .5 vs preds .25; bin [.5,1]: .5 vs .8; each holds half the rows.
		{"ECE", CalibrationError([]float64{0, 1, 1, 0}, []float64{0.2, 0.3, 0.7, 0.9}, 2), 0.5*0.25 + 0.5*0.3},
		{"ECE perfect", CalibrationError([]float64{0, 1}, []float64{0, 1}, 10), 0},
	}
	for _, tt := range tests {
		if !near(tt.got, tt.want, 1e-12) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestPrecisionRecall(t *testing.T) {
	y := []float64{1, 0, 1, 0, 1}
	p := []float64{0.9, 0.6, 0.4, 0.2, 0.5}
	// ≥ 0.5: rows 0 (tp), 1 (fp), 4 (tp); row 2 is a missed positive.
	if pr, rc := PrecisionRecallAt(y, p, 0.5); !near(pr, 2.0/3, 1e-12) || !near(rc, 2.0/3, 1e-12) {
		t.Errorf("PrecisionRecallAt(0.5) = %v, %v, want 2/3, 2/3", pr, rc)
	}
	// top 2: rows 0 (tp) and 1 (fp).
	if pr, rc := PrecisionRecallAtK(y, p, 2); !near(pr, 0.5, 1e-12) || !near(rc, 1.0/3, 1e-12) {
		t.Errorf("PrecisionRecallAtK(2) = %v, %v, want 0.5, 1/3", pr, rc)
	}
	if pr, _ := PrecisionRecallAt(y, p, 0.95); !math.IsNaN(pr) {
		t.Errorf("PrecisionRecallAt(0.95) precision = %v, want NaN (nothing predicted positive)", pr)
	}
}

func TestMetricsUndefined(t *testing.T) {
	// A NaN score once sent the tie loops round forever.
	if v := AUC([]float64{1, 0, 1}, []float64{0.2, math.NaN(), 0.3}); !math.IsNaN(v) {
		t.Errorf("AUC(NaN score) = %v, want NaN", v)
	}
	if v := AveragePrecision([]float64{1, 0, 1}, []float64{0.2, math.NaN(), 0.3}); !math.IsNaN(v) {
		t.Errorf("AveragePrecision(NaN score) = %v, want NaN", v)
	}
	if v := AUC([]float64{1, 1}, []float64{0.2, 0.3}); !math.IsNaN(v) {
		t.Errorf("AUC(one class) = %v, want NaN", v)
	}
	if v := AveragePrecision([]float64{0, 0}, []float64{0.2, 0.3}); !math.IsNaN(v) {
		t.Errorf("AveragePrecision(no positives) = %v, want NaN", v)
	}
}
