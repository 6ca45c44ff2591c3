package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
)

// MissingPolicy says what FeatureStoreSource does with a label row for which the
// point-in-time join found no value (missing, null or older than the view's TTL).
type MissingPolicy int

const (
	// DropRow leaves the row out of the training set.
	DropRow MissingPolicy = iota
	// FillZero uses 0 for the missing value.
	FillZero
)

// FeatureStoreSource builds the training set with the feature store's point-in-time join
// over a feature service's features, so the schema hash the registry records is the one
// the serving feature service will present.
type FeatureStoreSource struct {
	Offline  *features.OfflineStore
	Features *features.Registry
	// Service is the feature service: "name" (newest version) or "name@version".
	Service string
	// Labels returns the label rows (event time and entity keys) and each row's label in [0, 1].
	Labels func(ctx context.Context) (features.Labels, []float64, error)
	// Missing is the policy for rows without a value.
	Missing MissingPolicy
}

var _ TrainingSetSource = (*FeatureStoreSource)(nil)

// ErrUnsupportedFeature is returned for a feature kind the models cannot take.
var ErrUnsupportedFeature = errors.New("feature kind not supported for training")

// TrainingSet implements TrainingSetSource. Features become columns named by their
// "view:feature" reference: ints, floats and bools as numbers, strings as categorical ids
// (a 53-bit FNV-1a hash, exact in a float64), vectors as one float column per dimension
// ("ref[i]").
func (s *FeatureStoreSource) TrainingSet(ctx context.Context) (TrainingSet, error) {
	svc, err := s.Features.Service(s.Service)
	if err != nil {
		return TrainingSet{}, fmt.Errorf("feature store source: %w", err)
	}
	hash, err := s.Features.SchemaHash(s.Service)
	if err != nil {
		return TrainingSet{}, fmt.Errorf("feature store source: %w", err)
	}
	labels, y, err := s.Labels(ctx)
	if err != nil {
		return TrainingSet{}, fmt.Errorf("feature store source: labels: %w", err)
	}
	if len(y) != labels.Len() {
		return TrainingSet{}, fmt.Errorf("feature store source: %d labels for %d label rows", len(y), labels.Len())
	}
	joined, err := s.Offline.TrainingSet(ctx, labels, svc.Features)
	if err != nil {
		return TrainingSet{}, fmt.Errorf("feature store source: %w", err)
	}
	var schema ml.Schema
	type colMap struct {
		col, dim int // dim −1 for scalars
	}
	var cols []colMap
	for ci, c := range joined.Columns {
		switch c.Kind {
		case features.KindInt:
			schema.Features = append(schema.Features, ml.Feature{Name: c.Ref, Type: ml.Int})
		case features.KindFloat:
			schema.Features = append(schema.Features, ml.Feature{Name: c.Ref, Type: ml.Float})
		case features.KindBool:
			schema.Features = append(schema.Features, ml.Feature{Name: c.Ref, Type: ml.Bool})
		case features.KindString:
			schema.Features = append(schema.Features, ml.Feature{Name: c.Ref, Type: ml.Categorical})
		case features.KindVector:
			v, fi, err := s.Features.Resolve(c.Ref)
			if err != nil {
				return TrainingSet{}, fmt.Errorf("feature store source: %w", err)
			}
			for d := 0; d < v.Features[fi].Dim; d++ {
				schema.Features = append(schema.Features, ml.Feature{Name: fmt.Sprintf("%s[%d]", c.Ref, d), Type: ml.Float})
				cols = append(cols, colMap{ci, d})
			}
			continue
		default:
			return TrainingSet{}, fmt.Errorf("feature store source: %s: %w (%v)", c.Ref, ErrUnsupportedFeature, c.Kind)
		}
		cols = append(cols, colMap{ci, -1})
	}
	k := len(cols)
	ds := ml.Dataset{Schema: schema}
	var from, to time.Time
	row := make([]float64, k)
rows:
	for i := 0; i < labels.Len(); i++ {
		for j, cm := range cols {
			c := &joined.Columns[cm.col]
			if c.Status[i] != features.Present {
				if s.Missing == DropRow {
					continue rows
				}
				row[j] = 0
				continue
			}
			switch {
			case cm.dim >= 0:
				row[j] = float64(c.Vectors[i][cm.dim])
			case c.Kind == features.KindString:
				h := fnv.New64a()
				h.Write([]byte(c.Strings[i]))
				row[j] = float64(h.Sum64() >> 11)
			default:
				row[j] = c.Floats[i]
			}
		}
		ds.X = append(ds.X, row...)
		ds.Y = append(ds.Y, y[i])
		t := labels.Time[i].UTC()
		if from.IsZero() || t.Before(from) {
			from = t
		}
		if t.After(to) {
			to = t
		}
	}
	if ds.Rows() == 0 {
		return TrainingSet{}, fmt.Errorf("feature store source: %w: every label row lacks a feature value", ErrEmptyTrainingSet)
	}
	fp := sha256.Sum256([]byte(hash + "\n" + ds.Fingerprint()))
	return TrainingSet{Data: ds, From: from, To: to, Fingerprint: hex.EncodeToString(fp[:]),
		FeatureService: fmt.Sprintf("%s@%d", svc.Name, svc.Version), FeatureServiceHash: hash}, nil
}
