package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
)

// The adapter turns the feature store's point-in-time join into a training set whose
// schema hash is the feature service's, and never uses a planted future row.
func TestFeatureStoreSource(t *testing.T) {
	ctx := context.Background()
	freg, err := featurestest.Registry()
	if err != nil {
		t.Fatal(err)
	}
	svc := features.FeatureService{Name: "profile_model", Version: 1, Features: []string{
		"profile:age", "profile:score", "profile:country", "profile:verified", "profile:embedding"}}
	if err := freg.RegisterService(svc); err != nil {
		t.Fatal(err)
	}
	ocfg := features.DefaultOfflineConfig()
	ocfg.Dir = t.TempDir()
	off, err := features.OpenOffline(ocfg, freg)
	if err != nil {
		t.Fatal(err)
	}
	const future = 999
	var rows []features.Row
	labels := features.Labels{Keys: map[string][]string{"customer_id": nil}}
	var y []float64
	for i := 0; i < 300; i++ {
		ent := fmt.Sprint("c", i)
		lt := day0.Add(time.Duration(i) * 7 * time.Minute)
		age := int64(18 + i%60)
		labels.Time = append(labels.Time, lt)
		labels.Keys["customer_id"] = append(labels.Keys["customer_id"], ent)
		y = append(y, float64(i%3%2))
		if i%10 != 0 { // every tenth label has no value in time: dropped
			rows = append(rows, featurestest.ProfileRow(ent, lt.Add(-30*time.Minute), uint64(i), age))
		}
		rows = append(rows, featurestest.ProfileRow(ent, lt.Add(time.Nanosecond), uint64(i), future))
	}
	if err := off.Append(ctx, "profile", rows); err != nil {
		t.Fatal(err)
	}
	src := &pipeline.FeatureStoreSource{Offline: off, Features: freg, Service: "profile_model",
		Labels: func(context.Context) (features.Labels, []float64, error) { return labels, y, nil }}
	ts, err := src.TrainingSet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := freg.SchemaHash("profile_model")
	if ts.FeatureServiceHash != want || ts.FeatureService != "profile_model@1" {
		t.Errorf("FeatureService = %s %s, want profile_model@1 %s", ts.FeatureService, ts.FeatureServiceHash, want)
	}
	if ts.Data.Rows() != 270 || ts.Data.Schema.Len() != 8 || ts.Data.Schema.Features[2].Type != ml.Categorical || ts.Data.Schema.Features[7].Name != "profile:embedding[3]" {
		t.Errorf("training set: %d rows, schema %v; want 270 rows, 4 scalars + a 4-d embedding", ts.Data.Rows(), ts.Data.Schema.Features)
	}
	for i := 0; i < ts.Data.Rows(); i++ {
		if ts.Data.Row(i)[0] == future {
			t.Fatalf("row %d uses the planted future value", i)
		}
	}

	f := newFixture(t)
	def := f.definition(ml.Dataset{})
	def.Source = src
	def.Gates.ServingSchemaHash = want
	def.Train = func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		return ml.TrainLogReg(ctx, d, ml.DefaultLogRegConfig())
	}
	res, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	v, _ := f.reg.Resolve(ctx, "fraud", fmt.Sprint(res.Version))
	if v.FeatureServiceHash != want || !res.GatesPassed || !res.Moved {
		t.Errorf("version feature service hash %q, gates %v, moved %v; want %q, passed, moved", v.FeatureServiceHash, res.GatesPassed, res.Moved, want)
	}
	g := registry.DefaultGates()
	g.ServingSchemaHash = "sha256:0000"
	if _, ok, _ := f.reg.CheckGates(ctx, "fraud", "challenger", res.Version, g); ok {
		t.Error("CheckGates(serving provides another schema) passed, want the schema gate to fail")
	}
}
