package pacing

import (
	"fmt"
	"math"
	"time"
)

// Day is the length of the day a plan spreads a budget over.
const Day = 24 * time.Hour

// Diurnal is the expected shape of a day's traffic: a weight per hour, read as a constant
// request rate within the hour, so the cumulative share of the day's traffic is piecewise
// linear and exact for traffic drawn the same way. A pacer plans with it; actual traffic
// may differ (that is what feedback is for).
type Diurnal struct {
	share [24]float64 // of the day's traffic, per hour; sums to 1
	cum   [25]float64 // cum[h]: share before hour h
}

// NewDiurnal normalises 24 hourly weights (any positive scale: requests per hour, shares).
func NewDiurnal(hourly [24]float64) (Diurnal, error) {
	var d Diurnal
	total := 0.0
	for h, w := range hourly {
		if !(w >= 0) || math.IsInf(w, 0) {
			return Diurnal{}, fmt.Errorf("%w: hour %d weight %v, want a finite value ≥ 0", ErrConfig, h, w)
		}
		total += w
	}
	if !(total > 0) || math.IsInf(total, 0) {
		return Diurnal{}, fmt.Errorf("%w: hourly weights sum to %v, want > 0", ErrConfig, total)
	}
	for h, w := range hourly {
		d.share[h] = w / total
		d.cum[h+1] = d.cum[h] + d.share[h]
	}
	d.cum[24] = 1
	return d, nil
}

// DefaultDiurnal is the case study's traffic shape (the same as adsranking/sim's
// HourlyTraffic): a trough around 03:00–05:00 at a seventh of the evening peak at 20:00.
func DefaultDiurnal() Diurnal {
	d, err := NewDiurnal([24]float64{
		0.020, 0.014, 0.010, 0.008, 0.008, 0.011, 0.020, 0.033, 0.045, 0.050, 0.052, 0.054,
		0.056, 0.054, 0.052, 0.051, 0.052, 0.056, 0.062, 0.068, 0.070, 0.064, 0.048, 0.032,
	})
	if err != nil {
		panic(err) // constant input
	}
	return d
}

// Validate reports whether d was built by NewDiurnal (the zero value has no traffic).
func (d Diurnal) Validate() error {
	if d.cum[24] != 1 {
		return fmt.Errorf("%w: diurnal curve not initialised (use NewDiurnal)", ErrConfig)
	}
	return nil
}

// HourShare is the share of the day's traffic in hour h (0–23).
func (d Diurnal) HourShare(h int) float64 {
	if h < 0 || h > 23 {
		return 0
	}
	return d.share[h]
}

// CumulativeShare is the share of the day's traffic expected before t (time since
// midnight), 0 at or before midnight and 1 from the end of the day on.
func (d Diurnal) CumulativeShare(t time.Duration) float64 {
	if t <= 0 {
		return 0
	}
	if t >= Day {
		return 1
	}
	h := int(t / time.Hour)
	frac := float64(t-time.Duration(h)*time.Hour) / float64(time.Hour)
	return d.cum[h] + frac*d.share[h]
}

// Between is the share of the day's traffic expected in [a, b).
func (d Diurnal) Between(a, b time.Duration) float64 {
	return max(0, d.CumulativeShare(b)-d.CumulativeShare(a))
}

// Plan is a day's pacing target: a campaign should have spent budget × Share(now).
type Plan struct {
	DayStart time.Time // midnight of the day paced, in the campaign's time zone
	Curve    Diurnal
}

// Validate reports whether the plan can be used.
func (p Plan) Validate() error {
	if p.DayStart.IsZero() {
		return fmt.Errorf("%w: plan has no day start", ErrConfig)
	}
	return p.Curve.Validate()
}

// Elapsed is the time since the day started, clamped to [0, Day].
func (p Plan) Elapsed(now time.Time) time.Duration {
	return min(max(now.Sub(p.DayStart), 0), Day)
}

// Share is the share of the day's traffic expected by now.
func (p Plan) Share(now time.Time) float64 { return p.Curve.CumulativeShare(p.Elapsed(now)) }
