package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

// TrainingSet is a labelled matrix over a named feature schema, with the event-time range
// of its label rows and a fingerprint that changes whenever any value does.
type TrainingSet struct {
	Data        ml.Dataset
	From, To    time.Time
	Fingerprint string
	// FeatureService and FeatureServiceHash identify the feature store service the set was
	// joined from ("" for other sources); the registry records them for the schema gate.
	FeatureService     string
	FeatureServiceHash string
	// Reference, if set, holds one probability per row that the model is judged against:
	// a simulator's own click probabilities, whose log loss is the best achievable. The
	// evaluate step records its holdout log loss (ml.MetricReferenceLogLoss) and the
	// model's over it (ml.MetricLogLossRatio), for a gate floor relative to the best.
	Reference []float64
	// Params are side parameters the source measured on the data (a position effect per
	// slot, say); they are recorded on the version with the artifact, for serving to read.
	// A source that measures them must use only the training split's rows (TrainRows).
	Params map[string]string
}

// TrainingSetSource builds the training set. The feature store's point-in-time join
// satisfies it through an adapter; MemorySource serves tests and scenarios.
type TrainingSetSource interface {
	TrainingSet(ctx context.Context) (TrainingSet, error)
}

// ErrEmptyTrainingSet is returned when a source yields no rows.
var ErrEmptyTrainingSet = errors.New("training set is empty")

// MemorySource returns a fixed training set.
type MemorySource struct {
	Set TrainingSet
}

var _ TrainingSetSource = (*MemorySource)(nil)

// NewMemorySource wraps a dataset covering [from, to], computing its fingerprint.
func NewMemorySource(d ml.Dataset, from, to time.Time) *MemorySource {
	return &MemorySource{Set: TrainingSet{Data: d, From: from.UTC(), To: to.UTC(), Fingerprint: d.Fingerprint()}}
}

// TrainingSet implements TrainingSetSource.
func (s *MemorySource) TrainingSet(ctx context.Context) (TrainingSet, error) {
	if err := ctx.Err(); err != nil {
		return TrainingSet{}, err
	}
	if s.Set.Data.Rows() == 0 {
		return TrainingSet{}, ErrEmptyTrainingSet
	}
	return s.Set, nil
}

// SourceFunc adapts a function to TrainingSetSource.
type SourceFunc func(ctx context.Context) (TrainingSet, error)

// TrainingSet implements TrainingSetSource.
func (f SourceFunc) TrainingSet(ctx context.Context) (TrainingSet, error) { return f(ctx) }

// checkSet validates a training set; a classifier's (classifier: the pipeline evaluates
// it with the built-in metrics) must hold both classes, an implicit-feedback set judged by
// an Evaluate hook may hold positives only.
func checkSet(ts *TrainingSet, classifier bool) error {
	if ts.Data.Rows() == 0 {
		return ErrEmptyTrainingSet
	}
	if err := ts.Data.Validate(classifier); err != nil {
		return fmt.Errorf("training set: %w", err)
	}
	if ts.Reference != nil {
		if len(ts.Reference) != ts.Data.Rows() {
			return fmt.Errorf("training set: %w: %d reference probabilities for %d rows", ml.ErrShape, len(ts.Reference), ts.Data.Rows())
		}
		for i, p := range ts.Reference {
			if !(p >= 0 && p <= 1) {
				return fmt.Errorf("training set: %w: row %d has reference probability %v", ml.ErrShape, i, p)
			}
		}
	}
	if ts.Fingerprint == "" {
		ts.Fingerprint = ts.Data.Fingerprint()
	}
	return nil
}
