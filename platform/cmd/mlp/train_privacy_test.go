package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/privacy/membership"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
)

// mlp train measures membership inference on what it trains and records it on the version.
func TestTrainRecordsMembershipInference(t *testing.T) {
	ctx := context.Background()
	dir, ckpt := t.TempDir(), t.TempDir()
	var out bytes.Buffer
	if err := trainCmd(ctx, []string{"--dir", dir, "--checkpoints", ckpt, "--family", "logreg", "--rows", "3000", "--alias", ""},
		walkthrough.Config{}, &out); err != nil {
		t.Fatalf("mlp train: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "membership inference") {
		t.Errorf("mlp train output has no membership-inference line:\n%s", out.String())
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
	v, err := reg.Resolve(ctx, "fraud", "1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Privacy == nil {
		t.Fatal("v1 has no privacy record")
	}
	for _, a := range []string{membership.LossThreshold, membership.ShadowModel} {
		if auc, ok := v.Privacy.MembershipInference[a]; !ok || !(auc > 0 && auc < 1) {
			t.Errorf("v1 %s AUC = %v (recorded %v), want one in (0, 1)", a, auc, ok)
		}
	}
}
