package membership_test

import (
	"context"
	"errors"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/privacy/membership"
)

// memorizer is deep, unregularized boosting on few rows: it learns the noise in the labels,
// which is exactly what a membership attack detects.
func memorizer(ctx context.Context, d ml.Dataset) (ml.Model, error) {
	cfg := ml.DefaultGBDTConfig()
	cfg.Trees, cfg.MaxDepth, cfg.MaxLeaves, cfg.LearningRate = 60, 12, 256, 0.5
	cfg.MinChildWeight, cfg.L2, cfg.Subsample = 1e-3, 1e-3, 1
	cfg.Workers = 1
	return ml.TrainGBDT(ctx, d, cfg)
}

func data(n int, seed uint64) ml.Dataset { return mltest.Fraudish(n, 12, seed).Dataset }

func TestLossAttackOnMemorizer(t *testing.T) {
	ctx := context.Background()
	members, nonMembers := data(400, 1), data(400, 2)
	m, err := memorizer(ctx, members)
	if err != nil {
		t.Fatal(err)
	}
	r, err := membership.LossAttack(m, members, nonMembers)
	if err != nil {
		t.Fatal(err)
	}
	if r.Lo <= 0.6 {
		t.Errorf("LossAttack(memorizer) = %v, want the interval above 0.6", r)
	}
	if r.Members != 400 || r.NonMembers != 400 {
		t.Errorf("LossAttack counts = %d+%d, want 400+400", r.Members, r.NonMembers)
	}
}

// A model that saw neither set cannot tell them apart: the interval holds 0.5.
func TestLossAttackOnUnseenSets(t *testing.T) {
	ctx := context.Background()
	m, err := memorizer(ctx, data(400, 3))
	if err != nil {
		t.Fatal(err)
	}
	r, err := membership.LossAttack(m, data(600, 4), data(600, 5))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Contains(0.5) {
		t.Errorf("LossAttack(model trained elsewhere) = %v, want an interval holding 0.5", r)
	}
	if r.Hi-r.Lo > 0.15 {
		t.Errorf("LossAttack interval %v is too wide to mean anything", r)
	}
}

func TestShadowAttackOnMemorizer(t *testing.T) {
	ctx := context.Background()
	members, nonMembers := data(400, 1), data(400, 2)
	m, err := memorizer(ctx, members)
	if err != nil {
		t.Fatal(err)
	}
	cfg := membership.ShadowConfig{Shadows: 2, Train: memorizer, Seed: 1}
	aucs, rs, err := membership.Measure(ctx, m, members, nonMembers, data(1600, 6), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || len(aucs) != 2 {
		t.Fatalf("Measure = %v, want two attacks", rs)
	}
	if r := rs[1]; r.Attack != membership.ShadowModel || r.Lo <= 0.6 {
		t.Errorf("ShadowAttack(memorizer) = %v, want the interval above 0.6", r)
	}
	if aucs[membership.LossThreshold] != rs[0].AUC {
		t.Errorf("Measure map %v does not match results %v", aucs, rs)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	m, err := memorizer(ctx, data(100, 1))
	if err != nil {
		t.Fatal(err)
	}
	other := mltest.Fraudish(50, 8, 2).Dataset
	if _, err := membership.LossAttack(m, data(50, 1), other); !errors.Is(err, membership.ErrInput) {
		t.Errorf("LossAttack(schemas differ) error = %v, want ErrInput", err)
	}
	if _, err := membership.LossAttack(m, data(1, 1), data(50, 2)); !errors.Is(err, membership.ErrInput) {
		t.Errorf("LossAttack(one member) error = %v, want ErrInput", err)
	}
	if _, err := membership.ShadowAttack(ctx, m, data(50, 1), data(50, 2), data(3, 3), membership.ShadowConfig{Shadows: 2, Train: memorizer}); !errors.Is(err, membership.ErrInput) {
		t.Errorf("ShadowAttack(tiny population) error = %v, want ErrInput", err)
	}
	if _, err := membership.ShadowAttack(ctx, m, data(50, 1), data(50, 2), data(300, 3), membership.ShadowConfig{}); !errors.Is(err, membership.ErrInput) {
		t.Errorf("ShadowAttack(zero config) error = %v, want ErrInput", err)
	}
}
