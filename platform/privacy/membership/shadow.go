package membership

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/casebook-ml/casebook/platform/ml"
)

// ShadowConfig configures the shadow-model attack.
type ShadowConfig struct {
	// Shadows is the number of shadow models; each is trained on its own disjoint sample.
	Shadows int
	// Train fits one shadow model: the same family and settings as the target, as far as
	// the attacker knows or guesses them.
	Train func(ctx context.Context, d ml.Dataset) (ml.Model, error)
	// Seed shuffles the attacker's population before it is cut into samples.
	Seed uint64
}

// Validate reports a configuration the attack cannot run with.
func (c ShadowConfig) Validate() error {
	if c.Shadows < 1 {
		return fmt.Errorf("%w: Shadows = %d, want ≥ 1", ErrInput, c.Shadows)
	}
	if c.Train == nil {
		return fmt.Errorf("%w: ShadowConfig.Train is required", ErrInput)
	}
	return nil
}

// attackSchema is what the attack model sees of a record: the model's loss on it, its
// confidence, the true label, and the loss again for positives only (so one logistic
// regression can treat the two classes differently, as Shokri et al.'s per-class attack
// models do).
var attackSchema = ml.FloatSchema("loss", "confidence", "label", "loss_if_positive")

func attackFeatures(m ml.Model, d ml.Dataset) ([]float64, error) {
	p, err := predict(m, d)
	if err != nil {
		return nil, err
	}
	x := make([]float64, 0, 4*len(p))
	for i, pi := range p {
		if math.IsNaN(pi) || pi < 0 || pi > 1 {
			return nil, fmt.Errorf("%w: the model predicts %v for row %d", ErrInput, pi, i)
		}
		y := d.Y[i]
		l := math.Min(logLoss(y, pi), 30)
		x = append(x, l, math.Max(pi, 1-pi), y, y*l)
	}
	return x, nil
}

// ShadowAttack runs the shadow-model attack. population is the attacker's own data from the
// target's distribution, disjoint from members and non-members; it is shuffled and cut into
// 2·Shadows equal samples. Shadow i trains on sample 2i ("in") and never sees 2i+1 ("out");
// an attack model (logistic regression) learns in/out from the shadows' outputs on both,
// and is then applied to the target's outputs on members and non-members.
func ShadowAttack(ctx context.Context, target ml.Model, members, nonMembers, population ml.Dataset, cfg ShadowConfig) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	in, out, err := balance(members, nonMembers)
	if err != nil {
		return Result{}, err
	}
	if population.Schema.Hash() != members.Schema.Hash() {
		return Result{}, fmt.Errorf("%w: the shadow population has another schema than the target's data", ErrInput)
	}
	size := population.Rows() / (2 * cfg.Shadows)
	if size < 2 {
		return Result{}, fmt.Errorf("%w: %d population rows for %d shadows, want ≥ %d", ErrInput, population.Rows(), cfg.Shadows, 4*cfg.Shadows)
	}
	perm := rand.New(rand.NewPCG(cfg.Seed, 17)).Perm(population.Rows())
	var ax, ay []float64
	for s := 0; s < cfg.Shadows; s++ {
		sIn := population.Subset(perm[2*s*size : (2*s+1)*size])
		sOut := population.Subset(perm[(2*s+1)*size : (2*s+2)*size])
		shadow, err := cfg.Train(ctx, sIn)
		if err != nil {
			return Result{}, fmt.Errorf("membership: train shadow %d: %w", s, err)
		}
		for _, part := range []struct {
			d     ml.Dataset
			label float64
		}{{sIn, 1}, {sOut, 0}} {
			x, err := attackFeatures(shadow, part.d)
			if err != nil {
				return Result{}, err
			}
			ax = append(ax, x...)
			for range part.d.Rows() {
				ay = append(ay, part.label)
			}
		}
	}
	attacker, err := ml.TrainLogReg(ctx, ml.Dataset{Schema: attackSchema, X: ax, Y: ay}, ml.DefaultLogRegConfig())
	if err != nil {
		return Result{}, fmt.Errorf("membership: train attack model: %w", err)
	}
	xi, err := attackFeatures(target, in)
	if err != nil {
		return Result{}, err
	}
	xo, err := attackFeatures(target, out)
	if err != nil {
		return Result{}, err
	}
	n := in.Rows() + out.Rows()
	score := make([]float64, n)
	if err := attacker.Predict(ml.Batch{Schema: attackSchema, X: append(xi, xo...)}, score); err != nil {
		return Result{}, fmt.Errorf("membership: attack model: %w", err)
	}
	label := make([]float64, n)
	for i := range in.Rows() {
		label[i] = 1
	}
	return result(ShadowModel, label, score, in.Rows(), out.Rows()), nil
}

// Measure runs the loss-threshold attack and, when shadow is non-nil, the shadow-model
// attack against target, and returns the AUCs by attack name: the map a registry.Version
// records as Privacy.MembershipInference.
func Measure(ctx context.Context, target ml.Model, members, nonMembers, population ml.Dataset, shadow *ShadowConfig) (map[string]float64, []Result, error) {
	var rs []Result
	r, err := LossAttack(target, members, nonMembers)
	if err != nil {
		return nil, nil, err
	}
	rs = append(rs, r)
	if shadow != nil {
		r, err := ShadowAttack(ctx, target, members, nonMembers, population, *shadow)
		if err != nil {
			return nil, nil, err
		}
		rs = append(rs, r)
	}
	out := make(map[string]float64, len(rs))
	for _, r := range rs {
		out[r.Attack] = r.AUC
	}
	return out, rs, nil
}
