// Package servingtest builds what serving tests, benchmarks and scenarios need: a
// registry in a directory with trained models registered under aliases, and infer
// request bodies.
package servingtest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
)

// OpenRegistry opens a filesystem registry in dir that notices alias moves within ~20 ms.
func OpenRegistry(dir string) (*registry.Registry, error) {
	fc := regfs.DefaultConfig()
	fc.Dir, fc.PollInterval = dir, 20*time.Millisecond
	st, err := regfs.Open(fc)
	if err != nil {
		return nil, err
	}
	return registry.New(st, registry.DefaultConfig())
}

// Register stores m as the next version of name and, if alias is not empty, points the
// alias at it (forced: tests are not about gates).
func Register(ctx context.Context, reg *registry.Registry, name string, m ml.Model, alias string) (registry.Version, error) {
	return RegisterTrainedOn(ctx, reg, name, m, "", "", alias)
}

// RegisterTrainedOn is Register for a model trained on a feature service: the version
// records the service ("name@version") and its schema hash, as the training pipeline does.
func RegisterTrainedOn(ctx context.Context, reg *registry.Registry, name string, m ml.Model, service, serviceHash, alias string) (registry.Version, error) {
	data, err := m.MarshalBinary()
	if err != nil {
		return registry.Version{}, err
	}
	v, _, err := reg.Register(ctx, registry.RegisterRequest{Version: registry.Version{Model: name, Family: string(m.Family()), Schema: m.Schema(),
		FeatureService: service, FeatureServiceHash: serviceHash,
		RegisteredBy: "servingtest", CodeVersion: "test", DataFingerprint: fmt.Sprint(time.Now().UnixNano())}, Data: data})
	if err != nil {
		return registry.Version{}, err
	}
	if alias != "" {
		if err := Move(ctx, reg, name, alias, v.Number); err != nil {
			return v, err
		}
	}
	return v, nil
}

// Move points alias at version, forced and audited.
func Move(ctx context.Context, reg *registry.Registry, name, alias string, version int) error {
	_, err := reg.Promote(ctx, registry.PromoteRequest{Model: name, Alias: alias, Version: version, Actor: "servingtest",
		Reason: "test", Gates: registry.DefaultGates(), Force: true})
	return err
}

// Data is the fraud-like generator the serving tests and scenarios score: k features,
// about 10% positives, with the generator's true probabilities.
func Data(n, k int, seed uint64) mltest.Generated { return mltest.Fraudish(n, k, seed) }

// LogReg trains a logistic regression on d.
func LogReg(ctx context.Context, d ml.Dataset) (ml.Model, error) {
	return ml.TrainLogReg(ctx, d, ml.DefaultLogRegConfig())
}

// GBDT trains a boosted tree ensemble with the given number of trees and depth on d.
func GBDT(ctx context.Context, d ml.Dataset, trees, depth int) (ml.Model, error) {
	c := ml.DefaultGBDTConfig()
	c.Trees, c.MaxDepth = trees, depth
	return ml.TrainGBDT(ctx, d, c)
}

// Body is an infer request with rows × k values as one FP64 input of shape [rows, k].
func Body(x []float64, k int) []byte {
	b := make([]byte, 0, 64+len(x)*20)
	b = append(b, `{"inputs":[{"name":"input","shape":[`...)
	b = strconv.AppendInt(b, int64(len(x)/k), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `],"datatype":"FP64","data":[`...)
	for i, v := range x {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, "]}]}"...)
}
