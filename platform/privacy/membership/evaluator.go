package membership

import (
	"context"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
)

// Evaluator returns a pipeline privacy evaluator (pipeline.PrivacyEvaluator) that runs the
// attacks on every trained model: the training rows are the members and the holdout rows
// the non-members. With shadow set, the holdout is cut in two: the first half are the
// non-members, the second half the attacker's own population for the shadow models, so no
// row plays two parts.
func Evaluator(shadow *ShadowConfig) func(ctx context.Context, m ml.Model, train, holdout ml.Dataset) (*registry.Privacy, error) {
	return func(ctx context.Context, m ml.Model, train, holdout ml.Dataset) (*registry.Privacy, error) {
		nonMembers, population := holdout, ml.Dataset{}
		if shadow != nil {
			h := holdout.Rows() / 2
			nonMembers, population = rows(holdout, 0, h), rows(holdout, h, holdout.Rows())
		}
		aucs, _, err := Measure(ctx, m, train, nonMembers, population, shadow)
		if err != nil {
			return nil, err
		}
		return &registry.Privacy{MembershipInference: aucs}, nil
	}
}

func rows(d ml.Dataset, lo, hi int) ml.Dataset {
	k := d.Schema.Len()
	return ml.Dataset{Schema: d.Schema, X: d.X[lo*k : hi*k], Y: d.Y[lo:hi]}
}
