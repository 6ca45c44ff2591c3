package ml_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
)

// go test -run '^$' -bench GBDTTrain1M -benchtime 1x ./ml/
func BenchmarkGBDTTrain1M(b *testing.B) {
	d := mltest.Fraudish(1_000_000, 15, 1).Dataset
	cfg := ml.DefaultGBDTConfig() // 100 trees, depth 6, 64 leaves, subsample 0.8
	b.ResetTimer()
	for b.Loop() {
		if _, err := ml.TrainGBDT(context.Background(), d, cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/train")
	b.ReportMetric(float64(d.Rows())*float64(cfg.Trees)*float64(b.N)/b.Elapsed().Seconds(), "row-trees/s")
}

// go test -run '^$' -bench LogRegTrain1M -benchtime 1x ./ml/
func BenchmarkLogRegTrain1M(b *testing.B) {
	w := []float64{1, -1, 0.5, 0.25, -0.5, 0.1, 0, 0, 0.3, -0.2, 0, 0.05, 0, 0.7, -0.7}
	d := mltest.Logistic(1_000_000, w, -2, 1).Dataset
	b.ResetTimer()
	for b.Loop() {
		if _, err := ml.TrainLogReg(context.Background(), d, ml.DefaultLogRegConfig()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/train")
}

// latencies predicts one row at a time and reports ns/row, p50 and p99.
func latencies(b *testing.B, m ml.Model, d ml.Dataset) {
	b.Helper()
	k := d.Schema.Len()
	out := make([]float64, 1)
	n := d.Rows()
	ds := make([]time.Duration, 0, 1<<16)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		r := i % n
		i++
		t0 := time.Now()
		if err := m.Predict(ml.Batch{Schema: d.Schema, X: d.X[r*k : (r+1)*k]}, out); err != nil {
			b.Fatal(err)
		}
		if len(ds) < cap(ds) {
			ds = append(ds, time.Since(t0))
		}
	}
	slices.Sort(ds)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds()), "p99-ns")
}

// go test -run '^$' -bench GBDTPredictRow ./ml/
func BenchmarkGBDTPredictRow(b *testing.B) {
	d := mltest.Fraudish(100_000, 15, 1).Dataset
	m, err := ml.TrainGBDT(context.Background(), d, ml.DefaultGBDTConfig())
	if err != nil {
		b.Fatal(err)
	}
	latencies(b, m, d)
}

// go test -run '^$' -bench LogRegPredict1000 ./ml/
func BenchmarkLogRegPredict1000(b *testing.B) {
	w := []float64{1, -1, 0.5, 0.25, -0.5, 0.1, 0, 0, 0.3, -0.2, 0, 0.05, 0, 0.7, -0.7}
	d := mltest.Logistic(20_000, w, -2, 1).Dataset
	m, err := ml.TrainLogReg(context.Background(), d, ml.DefaultLogRegConfig())
	if err != nil {
		b.Fatal(err)
	}
	batch := ml.Batch{Schema: d.Schema, X: d.X[:1000*15]}
	out := make([]float64, 1000)
	ds := make([]time.Duration, 0, 1<<14)
	for b.Loop() {
		t0 := time.Now()
		if err := m.Predict(batch, out); err != nil {
			b.Fatal(err)
		}
		if len(ds) < cap(ds) {
			ds = append(ds, time.Since(t0))
		}
	}
	slices.Sort(ds)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/row")
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds())/1000, "p99-µs/batch")
}

// BenchmarkLatencyKnobs measures each latency knob's trade: per-row predict latency against
// test AUC, for a 100-tree depth-6 teacher and its cheaper variants; and a float64 FM
// against its int8 quantization.
//
// go test -run '^$' -bench LatencyKnobs ./ml/
func BenchmarkLatencyKnobs(b *testing.B) {
	ctx := context.Background()
	train := mltest.Fraudish(200_000, 15, 21)
	test := mltest.Fraudish(50_000, 15, 22)
	teacher, err := ml.TrainGBDT(ctx, train.Dataset, ml.DefaultGBDTConfig())
	if err != nil {
		b.Fatal(err)
	}
	small := ml.DefaultGBDTConfig()
	small.Trees, small.MaxDepth, small.MaxLeaves, small.LearningRate = 30, 4, 16, 0.3
	distilled, err := ml.Distill(ctx, teacher, train.Dataset, func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		return ml.TrainGBDT(ctx, d, small)
	})
	if err != nil {
		b.Fatal(err)
	}
	hard, err := ml.TrainGBDT(ctx, train.Dataset, small)
	if err != nil {
		b.Fatal(err)
	}
	prunedTrain, _ := ml.PruneFeatures(train.Dataset, teacher.Importance(), 6)
	prunedTest, _ := test.SelectFeatures(prunedTrain.Schema.Names())
	pruned, err := ml.TrainGBDT(ctx, prunedTrain, ml.DefaultGBDTConfig())
	if err != nil {
		b.Fatal(err)
	}
	clicks, clicksTest := mltest.Clicks(200_000, 23), mltest.Clicks(50_000, 24)
	fm, err := ml.TrainFM(ctx, clicks.Dataset, ml.DefaultFMConfig())
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		m    ml.Model
		d    ml.Dataset
	}{
		{"gbdt-100x6-teacher", teacher, test.Dataset},
		{"gbdt-30x4-distilled", distilled, test.Dataset},
		{"gbdt-30x4-hard-labels", hard, test.Dataset},
		{"gbdt-100x6-top6-features", pruned, prunedTest},
		{"fm-float64", fm, clicksTest.Dataset},
		{"fm-int8", fm.Quantize(), clicksTest.Dataset},
	}
	for _, c := range cases {
		met, err := ml.Evaluate(c.m, c.d)
		if err != nil {
			b.Fatal(err)
		}
		art, _ := c.m.MarshalBinary()
		b.Run(c.name, func(b *testing.B) {
			latencies(b, c.m, c.d)
			b.ReportMetric(met[ml.MetricAUC], "auc")
			b.ReportMetric(met[ml.MetricLogLoss], "logloss")
			b.ReportMetric(float64(len(art)), "artifact-bytes")
		})
	}
	_ = fmt.Sprint()
}

// go test -run '^$' -bench GBDTPredictBatch ./ml/
//
// The same model as BenchmarkGBDTPredictRow, scored in batches through the tree-major
// kernel: what dynamic batching in serving can gain per row.
func BenchmarkGBDTPredictBatch(b *testing.B) {
	d := mltest.Fraudish(100_000, 15, 1).Dataset
	m, err := ml.TrainGBDT(context.Background(), d, ml.DefaultGBDTConfig())
	if err != nil {
		b.Fatal(err)
	}
	k := d.Schema.Len()
	for _, rows := range []int{1, 8, 64, 1000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			out := make([]float64, rows)
			n := d.Rows() / rows
			i := 0
			for b.Loop() {
				lo := (i % n) * rows
				i++
				if err := m.Predict(ml.Batch{Schema: d.Schema, X: d.X[lo*k : (lo+rows)*k]}, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}

// go test -run '^$' -bench GBDTExplainRow ./ml/
// One row's TreeSHAP explanation on the default ensemble (100 trees, depth ≤ 6, 15
// features), the cost of one row of POST /v2/models/{name}/explain.
func BenchmarkGBDTExplainRow(b *testing.B) {
	d := mltest.Fraudish(50_000, 15, 1).Dataset
	m, err := ml.TrainGBDT(context.Background(), d, ml.DefaultGBDTConfig())
	if err != nil {
		b.Fatal(err)
	}
	k, n := d.Schema.Len(), d.Rows()
	i := 0
	for b.Loop() {
		r := i % n
		i++
		if _, err := m.Explain(ml.Batch{Schema: d.Schema, X: d.X[r*k : (r+1)*k]}, 0); err != nil {
			b.Fatal(err)
		}
	}
}
