package registry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

// The well-known aliases. Any valid name works; these are the ones serving understands.
const (
	Champion   = "champion"
	Challenger = "challenger"
	Shadow     = "shadow"
)

// Gates are the checks an alias move must pass.
type Gates struct {
	// EvalSet and Metric name the holdout metric to compare, e.g. "holdout" / "auc".
	EvalSet string `json:"eval_set"`
	Metric  string `json:"metric"`
	// MinImprovement is the margin by which the candidate must beat the alias's current
	// holder on Metric (in the metric's better direction; may be negative to allow a
	// bounded regression). With no current holder the gate passes.
	MinImprovement float64 `json:"min_improvement"`
	// ServingSchemaHash is the feature schema hash the serving feature service provides;
	// the candidate's (Version.ServingSchemaHash) must equal it.
	ServingSchemaHash string `json:"serving_schema_sha256,omitempty"`
	// SchemaFromHolder, when ServingSchemaHash is empty, takes the serving schema from the
	// alias's current holder: what serving is fed now is what the holder was trained on,
	// so a candidate trained on another feature service (or another version of it) is
	// refused before serving would refuse to load it. DefaultGates sets it; a deliberate
	// schema migration clears it (mlp registry promote --allow-schema-change) or names the
	// new hash. With neither a hash nor a holder the gate is skipped (recorded as such).
	SchemaFromHolder bool `json:"schema_from_holder,omitempty"`
	// LatencyBudget bounds the candidate's measured p99 predict latency. Zero skips it.
	LatencyBudget time.Duration `json:"latency_budget_ns,omitempty"`
	// Floors are absolute quality bars the candidate must reach whatever the current
	// holder scores: an ANN index's recall@10 against exact search, say.
	Floors []Floor `json:"floors,omitempty"`
}

// Floor is an absolute bar on one metric: the candidate's Metrics[EvalSet][Metric] must be
// at least Min (at most Min for a metric where lower is better, see ml.LowerIsBetter). A
// candidate without the metric fails.
type Floor struct {
	EvalSet string  `json:"eval_set"`
	Metric  string  `json:"metric"`
	Min     float64 `json:"min"`
}

// Check evaluates the floor for v.
func (f Floor) Check(v Version) GateResult {
	r := GateResult{Gate: "floor:" + f.EvalSet + "/" + f.Metric, Limit: f.Min}
	val, ok := v.Metrics[f.EvalSet][f.Metric]
	if !ok {
		r.Margin = math.Inf(-1)
		r.Detail = fmt.Sprintf("candidate has no %s on %q", f.Metric, f.EvalSet)
		r.Margin = finite(r.Margin)
		return r
	}
	r.Value = val
	cmp := "≥"
	if ml.LowerIsBetter(f.Metric) {
		r.Margin, cmp = f.Min-val, "≤"
	} else {
		r.Margin = val - f.Min
	}
	r.Passed = r.Margin >= 0
	r.Detail = fmt.Sprintf("%s %.4f, need %s %.4f, margin %+.4f", f.Metric, val, cmp, f.Min, r.Margin)
	return r
}

func (f Floor) validate() error {
	if f.EvalSet == "" || f.Metric == "" || math.IsNaN(f.Min) || math.IsInf(f.Min, 0) {
		return fmt.Errorf("%w: a floor needs EvalSet, Metric and a finite Min", ErrInvalid)
	}
	return nil
}

// DefaultGates compares holdout AUC, requiring no regression, with a 2 ms p99 budget, and
// requires the candidate to be trained on the feature schema the alias's holder was.
func DefaultGates() Gates {
	return Gates{EvalSet: "holdout", Metric: ml.MetricAUC, MinImprovement: 0, LatencyBudget: 2 * time.Millisecond, SchemaFromHolder: true}
}

// Validate reports a gate configuration without a metric.
func (g Gates) Validate() error {
	if g.EvalSet == "" || g.Metric == "" {
		return fmt.Errorf("%w: gates need EvalSet and Metric", ErrInvalid)
	}
	if g.LatencyBudget < 0 || math.IsNaN(g.MinImprovement) {
		return fmt.Errorf("%w: negative latency budget or NaN margin", ErrInvalid)
	}
	for _, f := range g.Floors {
		if err := f.validate(); err != nil {
			return err
		}
	}
	return nil
}

// GateResult is one gate's verdict. Margin is how far the candidate is from failing:
// positive passed with room, negative failed by that much.
type GateResult struct {
	Gate    string  `json:"gate"`
	Passed  bool    `json:"passed"`
	Skipped bool    `json:"skipped,omitempty"`
	Value   float64 `json:"value"`
	Limit   float64 `json:"limit"`
	Margin  float64 `json:"margin"`
	Detail  string  `json:"detail"`
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Evaluate runs the gates for moving alias to cand, against the alias's current holder
// (nil if none).
func (g Gates) Evaluate(cand Version, holder *Version) []GateResult {
	var out []GateResult

	// Metric gate.
	m := GateResult{Gate: "metric:" + g.EvalSet + "/" + g.Metric}
	cv, ok := cand.Metrics[g.EvalSet][g.Metric]
	lower := ml.LowerIsBetter(g.Metric)
	switch {
	case !ok:
		m.Detail = fmt.Sprintf("candidate v%d has no %s on %q", cand.Number, g.Metric, g.EvalSet)
		m.Margin = math.Inf(-1)
	case holder == nil:
		m.Passed, m.Value = true, cv
		m.Detail = fmt.Sprintf("%s %.4f; no current holder to beat", g.Metric, cv)
	default:
		hv, hok := holder.Metrics[g.EvalSet][g.Metric]
		if !hok {
			m.Passed, m.Value = true, cv
			m.Detail = fmt.Sprintf("%s %.4f; holder v%d has no %s to compare", g.Metric, cv, holder.Number, g.Metric)
			break
		}
		gain := cv - hv
		if lower {
			gain = hv - cv
		}
		m.Value, m.Limit = gain, g.MinImprovement
		m.Margin = gain - g.MinImprovement
		m.Passed = m.Margin >= 0
		verb := "higher"
		if lower {
			verb = "lower"
		}
		m.Detail = fmt.Sprintf("%s %.4f vs holder v%d %.4f: improvement %+.4f (%s is better), need ≥ %+.4f, margin %+.4f",
			g.Metric, cv, holder.Number, hv, gain, verb, g.MinImprovement, m.Margin)
	}
	m.Margin = finite(m.Margin)
	out = append(out, m)

	// Schema gate.
	s := GateResult{Gate: "feature-schema"}
	serving, from := g.ServingSchemaHash, "serving provides"
	if serving == "" && g.SchemaFromHolder && holder != nil {
		serving, from = holder.ServingSchemaHash(), fmt.Sprintf("holder v%d (what serving is fed) was trained on", holder.Number)
		if holder.FeatureService != "" {
			from = fmt.Sprintf("holder v%d (what serving is fed) was trained on %s", holder.Number, holder.FeatureService)
		}
	}
	cs := shortHash(cand.ServingSchemaHash())
	if cand.FeatureService != "" {
		cs = cand.FeatureService + " " + cs
	}
	switch {
	case serving == "" && g.SchemaFromHolder:
		s.Passed, s.Skipped, s.Detail = true, true, "no serving schema given and no holder to take it from"
	case serving == "":
		s.Passed, s.Skipped, s.Detail = true, true, "no serving schema given"
	case cand.ServingSchemaHash() == serving && g.ServingSchemaHash != "":
		s.Passed, s.Detail = true, "candidate schema "+cs+" is what serving provides"
	case cand.ServingSchemaHash() == serving:
		s.Passed, s.Detail = true, fmt.Sprintf("candidate schema %s, the same as holder v%d's (what serving is fed)", cs, holder.Number)
	default:
		s.Margin = -1
		s.Detail = fmt.Sprintf("candidate schema %s, %s %s", cs, from, shortHash(serving))
	}
	out = append(out, s)

	// Latency gate.
	l := GateResult{Gate: "latency-p99"}
	switch {
	case g.LatencyBudget == 0:
		l.Passed, l.Skipped, l.Detail = true, true, "no latency budget"
	case cand.PredictP99 <= 0:
		l.Limit = float64(g.LatencyBudget)
		l.Margin = -float64(g.LatencyBudget)
		l.Detail = "candidate has no measured p99 latency"
	default:
		l.Value, l.Limit = float64(cand.PredictP99), float64(g.LatencyBudget)
		l.Margin = float64(g.LatencyBudget - cand.PredictP99)
		l.Passed = cand.PredictP99 <= g.LatencyBudget
		over := "under"
		if !l.Passed {
			over = "over"
		}
		l.Detail = fmt.Sprintf("p99 %v vs budget %v: %v %s", cand.PredictP99, g.LatencyBudget, (cand.PredictP99 - g.LatencyBudget).Abs(), over)
	}
	out = append(out, l)
	for _, f := range g.Floors {
		out = append(out, f.Check(cand))
	}
	return out
}

func shortHash(h string) string {
	if strings.HasPrefix(h, "sha256:") {
		return "sha256:" + short(h[7:])
	}
	return "sha256:" + short(h)
}

// CheckGates evaluates the gates for moving alias to version without moving anything: the
// pipeline's gate step, and a dry run for operators.
func (r *Registry) CheckGates(ctx context.Context, model, alias string, version int, g Gates) ([]GateResult, bool, error) {
	if err := g.Validate(); err != nil {
		return nil, false, err
	}
	cand, err := r.Resolve(ctx, model, fmt.Sprint(version))
	if err != nil {
		return nil, false, fmt.Errorf("check gates: %w", err)
	}
	var holder *Version
	if h, err := r.Resolve(ctx, model, alias); err == nil {
		holder = &h
	} else if !errors.Is(err, ErrAliasNotFound) && !errors.Is(err, ErrDanglingAlias) {
		return nil, false, fmt.Errorf("check gates: current %q: %w", alias, err)
	}
	res := g.Evaluate(cand, holder)
	ok := true
	for _, x := range res {
		ok = ok && x.Passed
	}
	return res, ok, nil
}

// PromoteRequest asks to move an alias to a version.
type PromoteRequest struct {
	Model   string
	Alias   string
	Version int
	Actor   string
	Reason  string
	Gates   Gates
	// Force moves the alias even if gates fail. It needs a Reason; the gate results and
	// the override are recorded in the audit log.
	Force bool
}

// Move is a completed alias move.
type Move struct {
	Audit AuditEntry
	Gates []GateResult
}

// Promote evaluates the gates and, if they pass (or Force is set with a reason), appends
// an audit entry and moves the alias. A refusal is a *GateError naming each failed gate
// and its margin; nothing moves and nothing is audited.
func (r *Registry) Promote(ctx context.Context, req PromoteRequest) (Move, error) {
	if !ValidName(req.Alias) || req.Actor == "" {
		return Move{}, fmt.Errorf("promote %s: %w: alias must be a valid name and actor is required", req.Model, ErrInvalid)
	}
	if req.Force && req.Reason == "" {
		return Move{}, fmt.Errorf("promote %s v%d to %q: %w", req.Model, req.Version, req.Alias, ErrForceNeedsReason)
	}
	if err := req.Gates.Validate(); err != nil {
		return Move{}, err
	}
	cand, err := r.Resolve(ctx, req.Model, fmt.Sprint(req.Version))
	if err != nil {
		return Move{}, fmt.Errorf("promote: %w", err)
	}
	if e, err := r.archived(ctx, req.Model, cand.Number); err != nil {
		return Move{}, fmt.Errorf("promote: %w", err)
	} else if e != nil {
		return Move{}, fmt.Errorf("promote %s v%d to %q: %w (entry %d by %s: %s)", req.Model, cand.Number, req.Alias, ErrArchived, e.Seq, e.Actor, e.Reason)
	}
	var holder *Version
	from := 0
	if h, err := r.Resolve(ctx, req.Model, req.Alias); err == nil {
		holder, from = &h, h.Number
	} else if !errors.Is(err, ErrAliasNotFound) && !errors.Is(err, ErrDanglingAlias) {
		return Move{}, fmt.Errorf("promote: current %q: %w", req.Alias, err)
	}
	if holder != nil && holder.Number == cand.Number {
		return Move{}, fmt.Errorf("promote %s v%d to %q: %w", req.Model, cand.Number, req.Alias, ErrNoChange)
	}
	results := req.Gates.Evaluate(cand, holder)
	passed := true
	for _, g := range results {
		passed = passed && g.Passed
	}
	if !passed && !req.Force {
		r.metrics.promotions.WithLabelValues("refused").Inc()
		return Move{Gates: results}, &GateError{Model: req.Model, Alias: req.Alias, Version: req.Version, Results: results}
	}
	action := ActionPromote
	if !passed {
		action = ActionForcePromote
	}
	entry, err := r.appendAudit(ctx, AuditEntry{Actor: req.Actor, Action: action, Model: req.Model, Alias: req.Alias,
		From: from, To: cand.Number, Reason: req.Reason, Gates: results, Forced: !passed})
	if err != nil {
		return Move{}, fmt.Errorf("promote: audit: %w", err)
	}
	if err := r.store.SetAlias(ctx, req.Model, req.Alias, cand.Number); err != nil {
		return Move{}, fmt.Errorf("promote: audited as entry %d but alias not moved: %w", entry.Seq, err)
	}
	r.metrics.promotions.WithLabelValues(map[bool]string{true: "moved", false: "forced"}[passed]).Inc()
	r.log.Info("alias moved", "model", req.Model, "alias", req.Alias, "from", from, "to", cand.Number, "actor", req.Actor, "forced", !passed)
	return Move{Audit: entry, Gates: results}, nil
}

// Rollback moves an alias back to where it pointed before its last move, without gates
// (it is the emergency exit), and audits it.
func (r *Registry) Rollback(ctx context.Context, model, alias, actor, reason string) (Move, error) {
	if actor == "" || reason == "" {
		return Move{}, fmt.Errorf("rollback %s@%s: %w: actor and reason are required", model, alias, ErrInvalid)
	}
	entries, err := r.Audit(ctx, model)
	if err != nil {
		return Move{}, err
	}
	aliases, err := r.store.Aliases(ctx, model)
	if err != nil {
		return Move{}, fmt.Errorf("rollback %s@%s: %w", model, alias, err)
	}
	cur, ok := aliases[alias]
	if !ok {
		return Move{}, fmt.Errorf("rollback %s@%s: %w", model, alias, ErrAliasNotFound)
	}
	target := 0
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Alias == alias && e.To == cur && e.MovesAlias() && e.Action != ActionRollback {
			target = e.From
			break
		}
	}
	if target == 0 {
		return Move{}, fmt.Errorf("rollback %s@%s (v%d): %w", model, alias, cur, ErrNothingToRollBack)
	}
	if _, err := r.store.GetVersion(ctx, model, target); err != nil {
		return Move{}, fmt.Errorf("rollback %s@%s to v%d: %w", model, alias, target, err)
	}
	for _, e := range entries {
		if e.Action == ActionArchive && e.To == target {
			return Move{}, fmt.Errorf("rollback %s@%s to v%d: %w (entry %d by %s: %s)", model, alias, target, ErrArchived, e.Seq, e.Actor, e.Reason)
		}
	}
	entry, err := r.appendAudit(ctx, AuditEntry{Actor: actor, Action: ActionRollback, Model: model, Alias: alias, From: cur, To: target, Reason: reason})
	if err != nil {
		return Move{}, fmt.Errorf("rollback: audit: %w", err)
	}
	if err := r.store.SetAlias(ctx, model, alias, target); err != nil {
		return Move{}, fmt.Errorf("rollback: audited as entry %d but alias not moved: %w", entry.Seq, err)
	}
	r.metrics.promotions.WithLabelValues("rollback").Inc()
	return Move{Audit: entry}, nil
}

// RemoveAlias deletes an alias (for example, ending a shadow run) and audits it.
func (r *Registry) RemoveAlias(ctx context.Context, model, alias, actor, reason string) error {
	aliases, err := r.store.Aliases(ctx, model)
	if err != nil {
		return fmt.Errorf("remove %s@%s: %w", model, alias, err)
	}
	cur, ok := aliases[alias]
	if !ok {
		return fmt.Errorf("remove %s@%s: %w", model, alias, ErrAliasNotFound)
	}
	if _, err := r.appendAudit(ctx, AuditEntry{Actor: actor, Action: ActionRemoveAlias, Model: model, Alias: alias, From: cur, Reason: reason}); err != nil {
		return fmt.Errorf("remove %s@%s: audit: %w", model, alias, err)
	}
	return r.store.SetAlias(ctx, model, alias, 0)
}

// archived returns the audit entry that archived model's version, or nil.
func (r *Registry) archived(ctx context.Context, model string, version int) (*AuditEntry, error) {
	entries, err := r.Audit(ctx, model)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Action == ActionArchive && e.To == version {
			return &e, nil
		}
	}
	return nil, nil
}

// Archive retires a version: an audit entry (actor, reason) after which Promote and
// Rollback refuse to move any alias to it. A version an alias points to is refused
// (ErrAliasHolds): move or remove the alias first, so nothing served disappears by surprise.
func (r *Registry) Archive(ctx context.Context, model string, version int, actor, reason string) (AuditEntry, error) {
	if actor == "" || reason == "" {
		return AuditEntry{}, fmt.Errorf("archive %s v%d: %w: actor and reason are required", model, version, ErrInvalid)
	}
	if _, err := r.store.GetVersion(ctx, model, version); err != nil {
		return AuditEntry{}, fmt.Errorf("archive %s v%d: %w", model, version, err)
	}
	aliases, err := r.store.Aliases(ctx, model)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("archive %s v%d: %w", model, version, err)
	}
	for a, n := range aliases {
		if n == version {
			return AuditEntry{}, fmt.Errorf("archive %s v%d: %w: %s", model, version, ErrAliasHolds, a)
		}
	}
	if e, err := r.archived(ctx, model, version); err != nil {
		return AuditEntry{}, fmt.Errorf("archive %s v%d: %w", model, version, err)
	} else if e != nil {
		return AuditEntry{}, fmt.Errorf("archive %s v%d: %w (entry %d)", model, version, ErrArchived, e.Seq)
	}
	e, err := r.appendAudit(ctx, AuditEntry{Actor: actor, Action: ActionArchive, Model: model, To: version, Reason: reason})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("archive %s v%d: audit: %w", model, version, err)
	}
	r.log.Info("version archived", "model", model, "version", version, "actor", actor)
	return e, nil
}
