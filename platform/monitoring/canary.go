package monitoring

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/casebook-ml/casebook/platform/registry"
)

// Canary is the alias a retrained version that passed the gates moves to. Serving routes
// a share of traffic to the version under this alias and logs its predictions with
// Alias "canary"; the champion keeps the rest.
const Canary = "canary"

// CanaryConfig says when a canary has earned the champion alias.
type CanaryConfig struct {
	Model string
	// MinLabelled and MinPositives are the least joined evidence for each side.
	MinLabelled  int
	MinPositives int
	// MinImprovement is how much the canary's online AUC must beat the champion's online
	// AUC over the same period (may be negative to accept a bounded loss).
	MinImprovement float64
	// Gates are the registry's gates for the champion move; they still apply (schema,
	// latency, offline metric margin).
	Gates registry.Gates
	Actor string
}

// Validate reports a config that cannot judge.
func (c CanaryConfig) Validate() error {
	if c.Model == "" || c.Actor == "" || c.MinLabelled < 1 || c.MinPositives < 1 || math.IsNaN(c.MinImprovement) {
		return fmt.Errorf("%w: canary judge needs Model, Actor, MinLabelled ≥ 1, MinPositives ≥ 1", ErrInvalidConfig)
	}
	return c.Gates.Validate()
}

// CanaryVerdict is what JudgeCanary saw and did.
type CanaryVerdict struct {
	Canary, Champion OnlineQuality
	// Enough is true when both sides had the joined evidence the config asks for (a
	// champion with no version needs none); without it nothing is decided.
	Enough bool
	// Holds is true when both sides had enough evidence and the canary's online AUC beat
	// the champion's by MinImprovement.
	Holds  bool
	Reason string
	// Promoted is set when the champion alias moved; Gates are the registry's verdicts.
	Promoted bool
	Gates    []registry.GateResult
}

// JudgeCanary compares the canary's online quality with the champion's (both from joined
// outcomes) and, when the canary holds, promotes it to champion through the registry's
// gates. A canary that does not hold stays where it is; a gate refusal is returned as the
// registry's *GateError with the verdict filled in.
func JudgeCanary(ctx context.Context, reg *registry.Registry, j *Joiner, cfg CanaryConfig) (CanaryVerdict, error) {
	if err := cfg.Validate(); err != nil {
		return CanaryVerdict{}, err
	}
	aliases, err := reg.Aliases(ctx, cfg.Model)
	if err != nil {
		return CanaryVerdict{}, fmt.Errorf("judge canary of %s: %w", cfg.Model, err)
	}
	cv, ok := aliases[Canary]
	if !ok {
		return CanaryVerdict{}, fmt.Errorf("judge canary of %s: %w", cfg.Model, registry.ErrAliasNotFound)
	}
	hv := aliases[registry.Champion]
	v := CanaryVerdict{Canary: j.Quality(cv), Champion: j.Quality(hv)}
	enough := func(q OnlineQuality) bool {
		return q.Labelled >= cfg.MinLabelled && q.Positives >= cfg.MinPositives && !math.IsNaN(q.AUC)
	}
	if cv == hv {
		v.Reason = "canary and champion are the same version"
		return v, nil
	}
	v.Enough = enough(v.Canary) && (hv == 0 || enough(v.Champion))
	switch {
	case !v.Enough:
		v.Reason = fmt.Sprintf("not enough joined outcomes yet: canary v%d %d labelled / %d positive, champion v%d %d / %d (need %d / %d)",
			cv, v.Canary.Labelled, v.Canary.Positives, hv, v.Champion.Labelled, v.Champion.Positives, cfg.MinLabelled, cfg.MinPositives)
		return v, nil
	case hv != 0 && v.Canary.AUC < v.Champion.AUC+cfg.MinImprovement:
		v.Reason = fmt.Sprintf("canary v%d online AUC %.4f does not beat champion v%d's %.4f by %.4f", cv, v.Canary.AUC, hv, v.Champion.AUC, cfg.MinImprovement)
		return v, nil
	}
	v.Holds = true
	v.Reason = fmt.Sprintf("canary v%d online AUC %.4f vs champion v%d %.4f on %d and %d joined outcomes", cv, v.Canary.AUC, hv, v.Champion.AUC, v.Canary.Labelled, v.Champion.Labelled)
	mv, err := reg.Promote(ctx, registry.PromoteRequest{Model: cfg.Model, Alias: registry.Champion, Version: cv, Actor: cfg.Actor, Reason: v.Reason, Gates: cfg.Gates})
	v.Gates = mv.Gates
	if err != nil {
		var ge *registry.GateError
		if errors.As(err, &ge) {
			v.Gates = ge.Results
		}
		return v, fmt.Errorf("promote canary v%d of %s to champion: %w", cv, cfg.Model, err)
	}
	v.Promoted = true
	return v, nil
}
