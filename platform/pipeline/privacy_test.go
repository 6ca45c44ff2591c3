package pipeline_test

import (
	"context"
	"errors"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/privacy/membership"
	"github.com/casebook-ml/casebook/platform/registry"
)

// The privacy evaluator runs on the training and holdout rows, and what it returns is on
// the registered version (and so on its card).
func TestPrivacyEvaluatorRecorded(t *testing.T) {
	f := newFixture(t)
	def := f.definition(mltest.Fraudish(2_000, 6, 1).Dataset)
	var seen [2]int
	loss := membership.Evaluator(nil)
	def.Privacy = func(ctx context.Context, m ml.Model, train, holdout ml.Dataset) (*registry.Privacy, error) {
		seen = [2]int{train.Rows(), holdout.Rows()}
		return loss(ctx, m, train, holdout)
	}
	r, err := f.pipeline(t, def, nil).Run(ctx, demand())
	if err != nil {
		t.Fatal(err)
	}
	if seen != [2]int{1500, 500} {
		t.Errorf("evaluator saw %v train/holdout rows, want [1500 500]", seen)
	}
	v, err := f.reg.Resolve(ctx, "fraud", "1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Privacy == nil {
		t.Fatalf("v%d has no Privacy record, want the evaluator's", r.Version)
	}
	if auc, ok := v.Privacy.MembershipInference[membership.LossThreshold]; !ok || !(auc > 0 && auc < 1) {
		t.Errorf("v%d Privacy = %+v, want a loss-threshold AUC", r.Version, v.Privacy)
	}
}

func TestPrivacyEvaluatorErrorStopsRun(t *testing.T) {
	f := newFixture(t)
	def := f.definition(mltest.Fraudish(1_000, 6, 1).Dataset)
	boom := errors.New("boom")
	def.Privacy = func(context.Context, ml.Model, ml.Dataset, ml.Dataset) (*registry.Privacy, error) { return nil, boom }
	if _, err := f.pipeline(t, def, nil).Run(ctx, demand()); !errors.Is(err, boom) {
		t.Fatalf("Run with a failing privacy evaluator = %v, want boom", err)
	}
	if vs, _ := f.reg.Versions(ctx, "fraud"); len(vs) != 0 {
		t.Errorf("%d versions registered after a failed privacy evaluation, want 0", len(vs))
	}
}
