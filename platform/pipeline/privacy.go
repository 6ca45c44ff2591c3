package pipeline

import (
	"context"
	"fmt"
	"maps"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
)

// PrivacyEvaluator measures what a trained model gives away about its training rows. It
// receives the model, the rows it was trained on and the holdout rows it never saw (the
// members and non-members of a membership-inference attack), and returns the privacy
// record to store on the version; nil records nothing.
type PrivacyEvaluator func(ctx context.Context, m ml.Model, train, holdout ml.Dataset) (*registry.Privacy, error)

func evaluatePrivacy(ctx context.Context, eval PrivacyEvaluator, m ml.Model, train, holdout ml.Dataset) (*registry.Privacy, error) {
	if eval == nil {
		return nil, nil
	}
	p, err := eval(ctx, m, train, holdout)
	if err != nil {
		return nil, fmt.Errorf("privacy evaluation: %w", err)
	}
	if p == nil {
		return nil, nil
	}
	out := *p
	out.MembershipInference = maps.Clone(p.MembershipInference)
	return &out, nil
}
