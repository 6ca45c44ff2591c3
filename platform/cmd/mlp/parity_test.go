package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
)

// mlp train records the feature service the version was trained on, and mlp registry
// promote runs the schema gate by default: a version trained on another service is
// refused unless the operator says the schema change is deliberate.
func TestTrainRecordsServiceAndPromoteGatesSchema(t *testing.T) {
	ctx := context.Background()
	dir, ckpt := t.TempDir(), t.TempDir()
	var out bytes.Buffer
	if err := trainCmd(ctx, []string{"--dir", dir, "--checkpoints", ckpt, "--family", "logreg", "--rows", "3000", "--alias", registry.Champion},
		walkthrough.Config{}, &out); err != nil {
		t.Fatalf("mlp train: %v\n%s", err, out.String())
	}
	fc := regfs.DefaultConfig()
	fc.Dir = dir
	st, err := regfs.Open(fc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	v1, err := reg.Resolve(ctx, "fraud", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	freg, err := trainFeatureRegistry()
	if err != nil {
		t.Fatal(err)
	}
	want, err := freg.SchemaHash(trainService)
	if err != nil {
		t.Fatal(err)
	}
	if v1.FeatureService != trainService || v1.FeatureServiceHash != want {
		t.Fatalf("mlp train registered feature service %q %q, want %q %q", v1.FeatureService, v1.FeatureServiceHash, trainService, want)
	}
	if err := freg.CheckSchema(trainService, v1.ServingSchemaHash()); err != nil {
		t.Errorf("CheckSchema(%s, v1's hash) = %v, want nil", trainService, err)
	}

	// The same model, equally good, but recorded as trained on another service version.
	data, err := reg.Artifact(ctx, v1)
	if err != nil {
		t.Fatal(err)
	}
	other := v1
	other.FeatureService, other.FeatureServiceHash, other.DataFingerprint = "fraud_train@2", "sha256:0123456789abcdef", v1.DataFingerprint+"-v2"
	v2, _, err := reg.Register(ctx, registry.RegisterRequest{Version: other, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	promote := func(extra ...string) (string, error) {
		var out bytes.Buffer
		args := append([]string{"promote", "fraud", "2", registry.Champion, "--dir", dir, "--actor", "t", "--reason", "test"}, extra...)
		err := registryCmd(ctx, args, walkthrough.Config{}, &out)
		return out.String(), err
	}
	got, err := promote()
	var ge *registry.GateError
	if !errors.As(err, &ge) || !strings.Contains(got, "✘ feature-schema") || !strings.Contains(got, "fraud_train@2") {
		t.Errorf("promote v%d (trained on fraud_train@2) = %v\n%s\nwant the feature-schema gate to refuse it", v2.Number, err, got)
	}
	if got, err := promote("--allow-schema-change"); err != nil || !strings.Contains(got, "v1 → v2") {
		t.Errorf("promote --allow-schema-change = %v\n%s\nwant champion v1 → v2", err, got)
	}
}
