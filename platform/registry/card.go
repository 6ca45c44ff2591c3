package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Card renders a model card for one version in Markdown, entirely from what the registry
// recorded: intended use, training data range, features and the feature service, metrics
// per evaluation set, global feature importance, fairness slices, the gates it passed on
// each alias move, its lineage, its privacy measures and its known limits.
func (r *Registry) Card(ctx context.Context, model, ref string) (string, error) {
	v, err := r.Resolve(ctx, model, ref)
	if err != nil {
		return "", fmt.Errorf("card: %w", err)
	}
	entries, err := r.Audit(ctx, model)
	if err != nil {
		return "", fmt.Errorf("card: %w", err)
	}
	aliases, err := r.store.Aliases(ctx, model)
	if err != nil {
		return "", fmt.Errorf("card: %w", err)
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	p("# Model card: %s v%d", v.Model, v.Number)
	p("")
	var held []string
	for a, n := range aliases {
		if n == v.Number {
			held = append(held, "`"+a+"`")
		}
	}
	slices.Sort(held)
	if len(held) == 0 {
		held = []string{"none"}
	}
	p("| | |")
	p("|---|---|")
	p("| family | %s |", v.Family)
	p("| artifact | sha256:%s (%d bytes) |", v.Artifact, v.Size)
	p("| aliases held | %s |", strings.Join(held, ", "))
	p("| registered | %s by %s |", v.RegisteredAt.Format("2006-01-02 15:04:05 UTC"), v.RegisteredBy)
	p("| code version | %s |", orNone(v.CodeVersion))
	for _, e := range entries {
		if e.Action == ActionArchive && e.To == v.Number {
			p("| archived | entry %d, %s by %s: %s |", e.Seq, e.Time, e.Actor, e.Reason)
		}
	}
	p("")
	p("## Intended use")
	p("")
	p("%s", orNone(v.IntendedUse))
	if v.Description != "" {
		p("")
		p("%s", v.Description)
	}
	p("")
	p("## Training data")
	p("")
	p("- event time from %s to %s", v.DataRange.From.Format("2006-01-02 15:04:05"), v.DataRange.To.Format("2006-01-02 15:04:05"))
	p("- fingerprint sha256:%s", orNone(v.DataFingerprint))
	p("")
	p("## Features")
	p("")
	p("Schema sha256:%s, %d features, in order:", v.SchemaHash, v.Schema.Len())
	if v.FeatureService != "" {
		p("")
		p("Built from feature service `%s` (%s).", v.FeatureService, v.FeatureServiceHash)
	}
	p("")
	p("| # | name | type |")
	p("|---|---|---|")
	for i, f := range v.Schema.Features {
		p("| %d | %s | %s |", i+1, f.Name, f.Type)
	}
	p("")
	p("## Metrics")
	p("")
	sets := make([]string, 0, len(v.Metrics))
	names := map[string]bool{}
	for s, ms := range v.Metrics {
		sets = append(sets, s)
		for n := range ms {
			names[n] = true
		}
	}
	slices.Sort(sets)
	metricNames := make([]string, 0, len(names))
	for n := range names {
		metricNames = append(metricNames, n)
	}
	slices.Sort(metricNames)
	if len(sets) == 0 {
		p("None recorded.")
	} else {
		p("| metric | %s |", strings.Join(sets, " | "))
		p("|---%s|", strings.Repeat("|---", len(sets)))
		for _, n := range metricNames {
			row := make([]string, len(sets))
			for i, s := range sets {
				if val, ok := v.Metrics[s][n]; ok {
					row[i] = fmt.Sprintf("%.4f", val)
				} else {
					row[i] = "–"
				}
			}
			p("| %s | %s |", n, strings.Join(row, " | "))
		}
	}
	if v.PredictP99 > 0 {
		p("")
		p("Measured single-row predict latency: p99 %v.", v.PredictP99)
	}
	cardImportance(p, v.Importance)
	cardSlices(p, v.Slices)
	p("")
	p("## Gates and alias moves")
	p("")
	moves := 0
	for _, e := range entries {
		if e.To != v.Number || e.Alias == "" {
			continue
		}
		moves++
		forced := ""
		if e.Forced {
			forced = " **(forced)**"
		}
		p("- entry %d, %s: %s `%s` v%d → v%d by %s%s: %s", e.Seq, e.Time, e.Action, e.Alias, e.From, e.To, e.Actor, forced, orNone(e.Reason))
		for _, g := range e.Gates {
			mark := "passed"
			switch {
			case g.Skipped:
				mark = "skipped"
			case !g.Passed:
				mark = "FAILED"
			}
			p("  - %s %s: %s", g.Gate, mark, g.Detail)
		}
	}
	if moves == 0 {
		p("This version has not been moved to any alias.")
	}
	p("")
	p("## Lineage")
	p("")
	chain := []string{fmt.Sprintf("v%d", v.Number)}
	for parent, seen := v.Parent, 0; parent > 0 && seen < 100; seen++ {
		pv, err := r.store.GetVersion(ctx, model, parent)
		if err != nil {
			chain = append(chain, fmt.Sprintf("v%d (missing)", parent))
			break
		}
		chain = append(chain, fmt.Sprintf("v%d", pv.Number))
		parent = pv.Parent
	}
	p("%s", strings.Join(chain, " ← "))
	if len(v.Params) > 0 {
		keys := make([]string, 0, len(v.Params))
		for k := range v.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		p("")
		p("Parameters:")
		p("")
		for _, k := range keys {
			p("- %s = %s", k, v.Params[k])
		}
	}
	cardPrivacy(p, v.Privacy)
	p("")
	p("## Known limits")
	p("")
	if len(v.KnownLimits) == 0 {
		p("None recorded.")
	}
	for _, l := range v.KnownLimits {
		p("- %s", l)
	}
	return b.String(), nil
}

// SmallSlice is the row count below which a slice's metrics are flagged as too noisy to
// compare (an AUC over a few dozen rows moves by tenths with one label).
const (
	SmallSliceRows      = 200
	SmallSlicePositives = 20
)

func cardImportance(p func(string, ...any), imp *Importance) {
	p("")
	p("## Global feature importance")
	p("")
	if imp == nil || len(imp.Features) == 0 {
		p("None recorded.")
		return
	}
	p("Mean |contribution| to the logit over %d %s rows (%s explanations), largest first:", imp.Rows, imp.Set, imp.Method)
	p("")
	p("| feature | mean abs contribution |")
	p("|---|---|")
	fs := slices.Clone(imp.Features)
	slices.SortStableFunc(fs, func(a, b FeatureImportance) int {
		switch {
		case a.MeanAbs > b.MeanAbs:
			return -1
		case a.MeanAbs < b.MeanAbs:
			return 1
		}
		return 0
	})
	for _, f := range fs {
		p("| %s | %.4f |", f.Feature, f.MeanAbs)
	}
}

func cardSlices(p func(string, ...any), sl []SliceMetrics) {
	p("")
	p("## Fairness slices")
	p("")
	if len(sl) == 0 {
		p("None recorded.")
		return
	}
	names := map[string]bool{}
	for _, s := range sl {
		for n := range s.Metrics {
			names[n] = n != "rows" // a column of its own
		}
	}
	cols := make([]string, 0, len(names))
	for n, ok := range names {
		if ok {
			cols = append(cols, n)
		}
	}
	slices.Sort(cols)
	p("Holdout metrics per segment. Segments under %d rows or %d positives are flagged *small*: compare them with care.", SmallSliceRows, SmallSlicePositives)
	p("")
	p("| slice | segment | rows | positives | %s |", strings.Join(cols, " | "))
	p("|---|---|---|---|%s", strings.Repeat("---|", len(cols)))
	for _, s := range sl {
		row := make([]string, len(cols))
		for i, c := range cols {
			if val, ok := s.Metrics[c]; ok {
				row[i] = fmt.Sprintf("%.4f", val)
			} else {
				row[i] = "–"
			}
		}
		seg := s.Segment
		if s.Rows < SmallSliceRows || s.Positives < SmallSlicePositives {
			seg += " *small*"
		}
		p("| %s | %s | %d | %d | %s |", s.Slice, seg, s.Rows, s.Positives, strings.Join(row, " | "))
	}
}

func cardPrivacy(p func(string, ...any), pr *Privacy) {
	p("")
	p("## Privacy")
	p("")
	if pr == nil {
		p("None recorded: no PII policy, differential-privacy guarantee or membership-inference measurement was registered with this version.")
		return
	}
	p("- PII policy: %s", orNone(pr.PIIPolicy))
	if pr.DP == nil {
		p("- differential privacy: none (trained without a DP guarantee)")
	} else {
		p("- differential privacy: %s, ε = %.3g at δ = %.3g (%s accountant)", pr.DP.Mechanism, pr.DP.Epsilon, pr.DP.Delta, pr.DP.Accountant)
	}
	if len(pr.MembershipInference) == 0 {
		p("- membership inference: not measured")
		return
	}
	attacks := make([]string, 0, len(pr.MembershipInference))
	for a := range pr.MembershipInference {
		attacks = append(attacks, a)
	}
	slices.Sort(attacks)
	p("- membership inference (attack AUC; 0.5 is a coin flip):")
	for _, a := range attacks {
		p("  - %s: %.3f", a, pr.MembershipInference[a])
	}
}

func orNone(s string) string {
	if s == "" {
		return "(not recorded)"
	}
	return s
}
