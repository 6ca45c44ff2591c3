package loadgen

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SLO is a threshold a run must meet, like k6's thresholds: "p99<50ms", "errors<0.1%",
// "rate>=99%". Latency metrics use the corrected (open loop) histogram; in closed loop the
// only one there is.
type SLO struct {
	Expr   string  // as written
	Metric string  // p50, p90, p99, p99.9, max, mean, errors, late, rate
	Op     string  // <, <=, >, >=
	Value  float64 // milliseconds for latency; a fraction for errors and late; req/s for rate
	// OfTarget marks a rate threshold given as a percentage of the target rate.
	OfTarget bool
}

// SLOResult is one SLO checked against a report.
type SLOResult struct {
	SLO    string `json:"slo"`
	Actual string `json:"actual"`
	OK     bool   `json:"ok"`
}

var sloPattern = regexp.MustCompile(`^\s*([a-zA-Z0-9.]+)\s*(<=|>=|<|>)\s*(\S+)\s*$`)

var latencyMetrics = map[string]func(Latency) float64{
	"p50":   func(l Latency) float64 { return l.P50Ms },
	"p90":   func(l Latency) float64 { return l.P90Ms },
	"p99":   func(l Latency) float64 { return l.P99Ms },
	"p99.9": func(l Latency) float64 { return l.P999Ms },
	"p999":  func(l Latency) float64 { return l.P999Ms },
	"max":   func(l Latency) float64 { return l.MaxMs },
	"mean":  func(l Latency) float64 { return l.MeanMs },
}

// ParseSLO reads one threshold: METRIC OP VALUE, where METRIC is p50, p90, p99, p99.9, max
// or mean (VALUE a duration: 50ms, 1.5s, 200us), errors or late (VALUE a percentage, 0.1%,
// or a fraction, 0.001), or rate (VALUE requests per second, or a percentage of the target
// rate: rate>=99%).
func ParseSLO(expr string) (SLO, error) {
	m := sloPattern.FindStringSubmatch(expr)
	if m == nil {
		return SLO{}, fmt.Errorf("%w: %q: want METRIC OP VALUE, e.g. p99<50ms or errors<0.1%%", ErrBadSLO, expr)
	}
	s := SLO{Expr: strings.TrimSpace(expr), Metric: strings.ToLower(m[1]), Op: m[2]}
	val := m[3]
	switch {
	case latencyMetrics[s.Metric] != nil:
		d, err := time.ParseDuration(val)
		if err != nil || d < 0 {
			return SLO{}, fmt.Errorf("%w: %q: %q is not a duration (write 50ms, 1.5s or 200us)", ErrBadSLO, expr, val)
		}
		s.Value = float64(d) / float64(time.Millisecond)
	case s.Metric == "errors" || s.Metric == "late":
		f, err := parseFraction(val)
		if err != nil {
			return SLO{}, fmt.Errorf("%w: %q: %v", ErrBadSLO, expr, err)
		}
		s.Value = f
	case s.Metric == "rate":
		if p, ok := strings.CutSuffix(val, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 {
				return SLO{}, fmt.Errorf("%w: %q: %q is not a percentage", ErrBadSLO, expr, val)
			}
			s.Value, s.OfTarget = f/100, true
		} else {
			f, err := strconv.ParseFloat(strings.TrimSuffix(val, "/s"), 64)
			if err != nil || f < 0 {
				return SLO{}, fmt.Errorf("%w: %q: %q is not a rate in requests per second", ErrBadSLO, expr, val)
			}
			s.Value = f
		}
	default:
		return SLO{}, fmt.Errorf("%w: %q: unknown metric %q (want p50, p90, p99, p99.9, max, mean, errors, late or rate)", ErrBadSLO, expr, m[1])
	}
	return s, nil
}

func parseFraction(val string) (float64, error) {
	if p, ok := strings.CutSuffix(val, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 100 {
			return 0, fmt.Errorf("%q is not a percentage between 0%% and 100%%", val)
		}
		return f / 100, nil
	}
	f, err := strconv.ParseFloat(val, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("%q is not a fraction between 0 and 1 (or write a percentage: 0.1%%)", val)
	}
	return f, nil
}

// ParseSLOs parses every expression, stopping at the first bad one.
func ParseSLOs(exprs []string) ([]SLO, error) {
	out := make([]SLO, 0, len(exprs))
	for _, e := range exprs {
		s, err := ParseSLO(e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Check evaluates the SLO against a report.
func (s SLO) Check(r *Report) SLOResult {
	var actual, want float64
	var shown string
	switch {
	case latencyMetrics[s.Metric] != nil:
		lat := r.Corrected
		if r.Mode == Closed {
			lat = r.Uncorrected
		}
		actual, want = latencyMetrics[s.Metric](lat), s.Value
		shown = fmtMs(actual)
	case s.Metric == "errors":
		actual, want = r.ErrorRate, s.Value
		shown = fmt.Sprintf("%.3f%%", 100*actual)
	case s.Metric == "late":
		if r.Sent > 0 {
			actual = float64(r.Late) / float64(r.Sent)
		}
		want = s.Value
		shown = fmt.Sprintf("%.3f%%", 100*actual)
	case s.Metric == "rate":
		actual, want = r.AchievedRate, s.Value
		if s.OfTarget {
			want = s.Value * r.TargetRate
		}
		shown = fmt.Sprintf("%.1f/s", actual)
		if s.OfTarget {
			shown += fmt.Sprintf(" (%.1f%% of target)", pct(r.AchievedRate, r.TargetRate))
		}
	}
	var ok bool
	switch s.Op {
	case "<":
		ok = actual < want
	case "<=":
		ok = actual <= want
	case ">":
		ok = actual > want
	case ">=":
		ok = actual >= want
	}
	if s.Metric == "rate" && s.OfTarget && r.TargetRate == 0 {
		ok, shown = false, shown+" (no target rate to compare with: closed loop)"
	}
	return SLOResult{SLO: s.Expr, Actual: shown, OK: ok}
}

// CheckSLOs evaluates every SLO, records the results in the report and returns an error
// wrapping ErrSLOMissed naming those that failed.
func (r *Report) CheckSLOs(slos []SLO) error {
	r.SLOs = r.SLOs[:0]
	var missed []string
	for _, s := range slos {
		res := s.Check(r)
		r.SLOs = append(r.SLOs, res)
		if !res.OK {
			missed = append(missed, fmt.Sprintf("%s (actual %s)", res.SLO, res.Actual))
		}
	}
	if len(missed) > 0 {
		return fmt.Errorf("%w: %s", ErrSLOMissed, strings.Join(missed, "; "))
	}
	return nil
}
