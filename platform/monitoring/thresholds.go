package monitoring

import (
	"fmt"
	"math"
)

// Threshold is where a method's value turns into a warning and an alert. For the
// distances (PSI, KL, JS) a value at or above the level trips it; for the tests (KS,
// chi-squared) the levels are significance levels and a p-value below one trips it.
type Threshold struct {
	Warn  float64 `json:"warn"`
	Alert float64 `json:"alert"`
}

// Thresholds maps a method to its levels.
type Thresholds map[Method]Threshold

// DefaultThresholds are the levels used unless a feature has its own:
//
//	psi   warn 0.1,  alert 0.2   the credit-scoring convention (also Evidently's and NannyML's bands)
//	kl    warn 0.05, alert 0.1   half of PSI's, since PSI = KL both ways ≈ 2·KL for small shifts
//	js    warn 0.05, alert 0.1   Jensen-Shannon distance (base 2); 0.1 is Evidently's default
//	ks    warn p < 0.05, alert p < 0.01
//	chi2  warn p < 0.05, alert p < 0.01
//
// The tests' false-alarm rate is their significance level by construction; PSI's depends
// on the window size n and the reference size m: under no drift PSI ≈ (1/n + 1/m)·χ²(bins−1),
// so a 200-value window against 5,000 reference values warns about 2% of the time and
// alerts about once in 100,000. DriftConfig.MinSamples keeps windows smaller than that
// from being judged at all.
func DefaultThresholds() Thresholds {
	return Thresholds{
		PSI:        {Warn: 0.1, Alert: 0.2},
		KL:         {Warn: 0.05, Alert: 0.1},
		JS:         {Warn: 0.05, Alert: 0.1},
		KS:         {Warn: 0.05, Alert: 0.01},
		ChiSquared: {Warn: 0.05, Alert: 0.01},
	}
}

// Status is a verdict on one comparison.
type Status string

// The statuses, from best to worst. Insufficient means the window holds fewer than
// MinSamples values and was not judged.
const (
	StatusOK           Status = "ok"
	StatusInsufficient Status = "insufficient"
	StatusWarn         Status = "warn"
	StatusAlert        Status = "alert"
)

func (s Status) rank() int {
	switch s {
	case StatusWarn:
		return 2
	case StatusAlert:
		return 3
	case StatusInsufficient:
		return 1
	}
	return 0
}

// judge applies a threshold to a method's value (or p-value for the tests).
func judge(m Method, th Threshold, value, p float64) Status {
	if m.IsTest() {
		switch {
		case p < th.Alert:
			return StatusAlert
		case p < th.Warn:
			return StatusWarn
		}
		return StatusOK
	}
	switch {
	case value >= th.Alert:
		return StatusAlert
	case value >= th.Warn:
		return StatusWarn
	}
	return StatusOK
}

// Validate reports levels in the wrong order, or p-value levels outside (0, 1).
func (t Thresholds) Validate() error {
	for m, th := range t {
		if math.IsNaN(th.Warn) || math.IsNaN(th.Alert) {
			return fmt.Errorf("%w: %s thresholds are NaN", ErrInvalidConfig, m)
		}
		if m.IsTest() {
			if !(th.Alert > 0 && th.Alert <= th.Warn && th.Warn < 1) {
				return fmt.Errorf("%w: %s p-value levels alert %v ≤ warn %v must lie in (0, 1)", ErrInvalidConfig, m, th.Alert, th.Warn)
			}
		} else if !(th.Warn > 0 && th.Warn <= th.Alert) {
			return fmt.Errorf("%w: %s levels want 0 < warn %v ≤ alert %v", ErrInvalidConfig, m, th.Warn, th.Alert)
		}
	}
	return nil
}
