package ml

import (
	"context"
	"fmt"
)

// Distill trains a student on the teacher's predicted probabilities (soft labels) over the
// rows of d: the student learns the teacher's function, including what the teacher
// learned from data the student never sees. train is the student's trainer, for example a
// small GBDT or a logistic regression.
func Distill(ctx context.Context, teacher Model, d Dataset, train func(context.Context, Dataset) (Model, error)) (Model, error) {
	soft := make([]float64, d.Rows())
	if err := teacher.Predict(d.Batch(), soft); err != nil {
		return nil, fmt.Errorf("distill: teacher predict: %w", err)
	}
	m, err := train(ctx, d.WithLabels(soft))
	if err != nil {
		return nil, fmt.Errorf("distill: train student: %w", err)
	}
	return m, nil
}

// PruneFeatures keeps the keep most important features (by total gain) of d, in their
// original schema order, for retraining a cheaper model.
func PruneFeatures(d Dataset, importance []FeatureImportance, keep int) (Dataset, error) {
	if keep <= 0 || keep > len(importance) {
		return Dataset{}, configError("prune: keep = %d, want 1..%d", keep, len(importance))
	}
	top := make(map[string]bool, keep)
	for _, fi := range importance[:keep] {
		top[fi.Feature] = true
	}
	var names []string
	for _, f := range d.Schema.Features {
		if top[f.Name] {
			names = append(names, f.Name)
		}
	}
	return d.SelectFeatures(names)
}
