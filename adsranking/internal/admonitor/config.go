package admonitor

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/casebook-ml/casebook/platform/monitoring"
)

// Config sets the attribution window, the sliding window and the alert rule.
type Config struct {
	// AttributionWindow is how long after its impression, in event time, a click is
	// credited to it. It is also when an impression matures: one without a click by then
	// is a non-click, and only matured impressions are judged.
	AttributionWindow time.Duration
	// Lateness is how far out of event-time order events may arrive (impressions and
	// clicks come from different reporters on different subjects). The watermark trails
	// the newest event time by it, so an impression matures only at AttributionWindow +
	// Lateness after it, and a click whose impression has not arrived waits that long.
	Lateness time.Duration
	// Bucket is the resolution of the sliding window; Window, a multiple of it, is its
	// span, in impression event time.
	Bucket time.Duration
	Window time.Duration
	// Tolerance is the calibration band: the alert fires when the confidence interval of
	// the observed/expected click ratio lies entirely outside [1−Tolerance, 1+Tolerance].
	Tolerance float64
	// ClearTolerance is the hysteresis: a firing alert resolves only when the interval
	// comes within ClearTolerance of 1 (0 ≤ ClearTolerance ≤ Tolerance), so a ratio
	// hovering at the band's edge does not flap, and the ratio itself is inside the band:
	// a window whose interval reaches 1 only because it is wide (few impressions: the
	// night, the tail of a stream) is no evidence that the model recovered.
	ClearTolerance float64
	// Z is the normal quantile of the two-sided interval (2.576: 99%). The interval is
	// recomputed every bucket over overlapping windows, so it must be wide: at 95% a
	// calibrated model would cross it by chance every few hours.
	Z float64
	// MinExpectedClicks is the least evidence judged: a window whose matured impressions
	// expect fewer clicks (Σ pctr) leaves the alert as it is.
	MinExpectedClicks float64
	// For and ClearFor are how many consecutive evaluations (one per newly matured bucket)
	// must agree before the alert fires or resolves.
	For      int
	ClearFor int
	// Severity of the alert (monitoring.SeverityWarning or SeverityCritical).
	Severity string
	// BinEdges are the upper edges of the reliability bins, ascending, ending at 1; a pctr
	// p falls in the first bin whose edge is ≥ p.
	BinEdges []float64
}

// DefaultConfig attributes clicks for 30 minutes, allows a minute of disorder, judges the
// last hour of matured impressions in 5-minute buckets, and alerts when the 99% interval
// of the ratio excludes [0.9, 1.1] on at least 50 expected clicks, for two buckets in a
// row; it resolves when the interval comes within 0.05 of 1 for two buckets in a row.
//
// The bins are narrow at the bottom because click probabilities are: equal-width bins on
// [0, 1] would put nearly every impression in the first.
func DefaultConfig() Config {
	return Config{
		AttributionWindow: 30 * time.Minute,
		Lateness:          time.Minute,
		Bucket:            5 * time.Minute,
		Window:            time.Hour,
		Tolerance:         0.1,
		ClearTolerance:    0.05,
		Z:                 2.576,
		MinExpectedClicks: 50,
		For:               2,
		ClearFor:          2,
		Severity:          monitoring.SeverityWarning,
		BinEdges:          []float64{0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.AttributionWindow <= 0 || c.Lateness < 0:
		return fmt.Errorf("%w: AttributionWindow %v must be > 0 and Lateness %v ≥ 0", ErrConfig, c.AttributionWindow, c.Lateness)
	case c.Bucket <= 0 || c.Window < c.Bucket || c.Window%c.Bucket != 0:
		return fmt.Errorf("%w: Window %v must be a positive multiple of Bucket %v", ErrConfig, c.Window, c.Bucket)
	case !(c.Tolerance > 0 && c.Tolerance < 1):
		return fmt.Errorf("%w: Tolerance %v must lie in (0, 1)", ErrConfig, c.Tolerance)
	case !(c.ClearTolerance >= 0 && c.ClearTolerance <= c.Tolerance):
		return fmt.Errorf("%w: ClearTolerance %v must lie in [0, Tolerance %v]", ErrConfig, c.ClearTolerance, c.Tolerance)
	case !(c.Z > 0) || math.IsInf(c.Z, 0):
		return fmt.Errorf("%w: Z %v must be positive and finite", ErrConfig, c.Z)
	case !(c.MinExpectedClicks >= 0) || math.IsInf(c.MinExpectedClicks, 0):
		return fmt.Errorf("%w: MinExpectedClicks %v must be ≥ 0 and finite", ErrConfig, c.MinExpectedClicks)
	case c.Severity != monitoring.SeverityWarning && c.Severity != monitoring.SeverityCritical:
		return fmt.Errorf("%w: Severity %q, want %q or %q", ErrConfig, c.Severity, monitoring.SeverityWarning, monitoring.SeverityCritical)
	case len(c.BinEdges) == 0 || c.BinEdges[len(c.BinEdges)-1] != 1 || !(c.BinEdges[0] > 0):
		return fmt.Errorf("%w: BinEdges %v must be positive and end at 1", ErrConfig, c.BinEdges)
	}
	for i := 1; i < len(c.BinEdges); i++ {
		if !(c.BinEdges[i] > c.BinEdges[i-1]) {
			return fmt.Errorf("%w: BinEdges %v must be strictly ascending", ErrConfig, c.BinEdges)
		}
	}
	if err := c.rule("model").Validate(); err != nil { // For, ClearFor, and anything the platform checks later
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// Rule names and the signal the rule reads.
const (
	// RuleName is the alert's rule name, the same for every model version.
	RuleName = "ads_calibration_drift"
	// SignalGap is the calibration gap of the sliding window (Stats.Gap).
	SignalGap = "calibration_gap"
)

// rule is the calibration alert of one model version as a platform alert rule. The
// interval [lo, hi] excludes [1−t, 1+t] exactly when gap = max(lo−1, 1−hi) exceeds t, so
// "the interval excludes the band" is "gap ≥ Tolerance" (touching the band's edge counts,
// a measure-zero difference), and "the interval came back within ClearTolerance of 1" is
// "gap < ClearTolerance": a threshold rule with hysteresis, which is what
// monitoring.Rule is.
func (c Config) rule(model string) monitoring.Rule {
	return monitoring.Rule{Name: RuleName, Model: model, Severity: c.Severity, Signal: SignalGap,
		Fire: c.Tolerance, Clear: c.ClearTolerance, For: c.For, ClearFor: c.ClearFor,
		Summary: fmt.Sprintf("%s: observed/expected clicks outside [%g, %g] (%g%% interval, matured impressions of the last %v)",
			model, 1-c.Tolerance, 1+c.Tolerance, math.Round(100*(1-2*normalTail(c.Z))), c.Window)}
}

// conclusive says whether a window's judgment is passed to the alert rule: it has at least
// MinExpectedClicks, and if it would count toward resolving (gap < ClearTolerance), its
// ratio lies in the band too. An inconclusive window leaves the alert as it is.
func (c Config) conclusive(s Stats) bool {
	if !(s.ExpectedClicks >= c.MinExpectedClicks) || math.IsNaN(s.Gap) {
		return false
	}
	return s.Gap >= c.ClearTolerance || math.Abs(s.Ratio-1) <= c.Tolerance
}

// bin returns the reliability bin of a pctr.
func (c Config) bin(p float64) int {
	i, _ := slices.BinarySearch(c.BinEdges, p)
	return min(i, len(c.BinEdges)-1)
}

// normalTail is P(Z > z) for a standard normal Z.
func normalTail(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }
