package fs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/registry/fs"
)

func benchRegistry(b *testing.B) (*registry.Registry, registry.RegisterRequest) {
	b.Helper()
	cfg := fs.DefaultConfig()
	cfg.Dir = b.TempDir()
	s, err := fs.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	r, err := registry.New(s, registry.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	d := mltest.Fraudish(20_000, 15, 1).Dataset
	m, err := ml.TrainGBDT(context.Background(), d, ml.DefaultGBDTConfig())
	if err != nil {
		b.Fatal(err)
	}
	data, _ := m.MarshalBinary()
	return r, registry.RegisterRequest{Data: data, Version: registry.Version{Model: "fraud", Family: string(ml.FamilyGBDT),
		Schema: d.Schema, RegisteredBy: "bench", Metrics: map[string]ml.Metrics{"holdout": {"auc": 0.8}}, PredictP99: 2e3}}
}

// BenchmarkLoadVerified is what a server pays to (re)load the champion: resolve the alias,
// read the artifact, check its sha256 and decode a 100-tree model.
//
// go test -run '^$' -bench LoadVerified ./registry/fs/
func BenchmarkLoadVerified(b *testing.B) {
	r, req := benchRegistry(b)
	ctx := context.Background()
	v, _, err := r.Register(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: v.Number, Actor: "bench", Gates: registry.DefaultGates()}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(req.Data)))
	for b.Loop() {
		if _, _, err := r.Load(ctx, "fraud", registry.Champion); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegister registers distinct versions of the same artifact (a new training-data
// fingerprint each time): hashing, the idempotency scan, the version record and the audit
// entry. It grows with the number of versions and audit entries already present.
//
// go test -run '^$' -bench Register -benchtime 200x ./registry/fs/
func BenchmarkRegister(b *testing.B) {
	r, req := benchRegistry(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		req.DataFingerprint = fmt.Sprint(i)
		i++
		if _, _, err := r.Register(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
