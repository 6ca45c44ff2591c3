package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Card renders a model card for one version in Markdown, entirely from what the registry
// recorded: intended use, training data range, features, metrics per evaluation set, the
// gates it passed on each alias move, its lineage and its known limits.
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

func orNone(s string) string {
	if s == "" {
		return "(not recorded)"
	}
	return s
}
