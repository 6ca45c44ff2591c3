package plot

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// An axis maps data values to a fraction of the plot area and carries its labelled ticks.
type axis struct {
	lo, hi float64
	log    bool
	ticks  []float64
	labels []string
}

// frac places v on the axis: 0 at lo, 1 at hi.
func (a axis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// niceStep returns 1, 2 or 5 times a power of ten, so that span/step is close to target.
func niceStep(span float64, target int) float64 {
	if target < 1 {
		target = 1
	}
	raw := span / float64(target)
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch r := raw / p; {
	case r < 1.5:
		return p
	case r < 3:
		return 2 * p
	case r < 7:
		return 5 * p
	default:
		return 10 * p
	}
}

// widen turns an empty range into a small one around its value, so it can be drawn.
func widen(lo, hi float64) (float64, float64) {
	if lo < hi {
		return lo, hi
	}
	if lo == 0 {
		return 0, 1
	}
	d := math.Abs(lo) * 0.1
	return lo - d, hi + d
}

// linearAxis builds an axis over [lo, hi] with about target ticks at round values. With
// extend the axis grows outward to the nearest ticks, so the data never touches an unlabelled
// edge; without, it keeps [lo, hi] and labels the round values inside it.
func linearAxis(lo, hi float64, target int, extend bool) (axis, error) {
	lo, hi = widen(lo, hi)
	if !finite(hi - lo) {
		return axis{}, ErrRange
	}
	step := niceStep(hi-lo, target)
	first, last := math.Ceil(lo/step-1e-9), math.Floor(hi/step+1e-9)
	if extend {
		first, last = math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
		lo, hi = first*step, last*step
	}
	a := axis{lo: lo, hi: hi}
	for i := first; i <= last; i++ {
		v := i * step
		if v == 0 {
			v = 0 // no "-0"
		}
		a.ticks = append(a.ticks, v)
	}
	a.labels = formatTicks(a.ticks, step)
	return a, nil
}

// logAxis spans whole decades around the positive range [minPos, maxPos]. When the smallest
// value sits close to its decade's floor, the axis starts a decade lower, so a bar of that
// height is still visible.
func logAxis(minPos, maxPos float64) axis {
	lo := math.Pow(10, math.Floor(math.Log10(minPos)))
	if minPos/lo < 2 {
		lo /= 10
	}
	hi := math.Pow(10, math.Ceil(math.Log10(maxPos)))
	if hi <= lo {
		hi = lo * 10
	}
	decades := int(math.Round(math.Log10(hi / lo)))
	every := 1 + decades/8 // at most about eight labels
	a := axis{lo: lo, hi: hi, log: true}
	for d := 0; d <= decades; d += every {
		v := lo * math.Pow(10, float64(d))
		a.ticks = append(a.ticks, v)
		a.labels = append(a.labels, formatDecade(v))
	}
	return a
}

func formatDecade(v float64) string {
	e := int(math.Round(math.Log10(v)))
	switch {
	case e >= 3:
		return formatTicks([]float64{v}, v)[0]
	case e >= -4:
		return strconv.FormatFloat(math.Pow(10, float64(e)), 'f', -1, 64)
	default:
		return "1e" + strconv.Itoa(e)
	}
}

// formatTicks labels evenly spaced ticks with as many decimals as the step needs, and large
// values with a k/M/G/T suffix chosen once for the whole axis so the labels line up.
func formatTicks(ticks []float64, step float64) []string {
	maxAbs := 0.0
	for _, v := range ticks {
		maxAbs = math.Max(maxAbs, math.Abs(v))
	}
	unit, suffix := 1.0, ""
	for _, u := range []struct {
		v float64
		s string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e4, "k"}} {
		if maxAbs >= u.v {
			unit, suffix = u.v, u.s
			if u.s == "k" {
				unit = 1e3
			}
			break
		}
	}
	if unit > 1 && step/unit < 1e-3 {
		unit, suffix = 1, "" // 1000000000.5 beats seven labels reading "1.000G"
	}
	decimals := 0
	if s := step / unit; s < 1 {
		decimals = int(math.Ceil(-math.Log10(s) - 1e-9))
	}
	out := make([]string, len(ticks))
	for i, v := range ticks {
		switch {
		case v == 0:
			out[i] = "0"
		case decimals > 8:
			// Tiny values: enough significant digits to tell neighbours apart.
			out[i] = strconv.FormatFloat(v, 'g', int(math.Ceil(math.Log10(maxAbs/step)))+1, 64)
		default:
			out[i] = trimZeros(strconv.FormatFloat(v/unit, 'f', decimals, 64)) + suffix
		}
	}
	return out
}

// trimZeros drops trailing zeros after a decimal point: "1.50" → "1.5", "2.0" → "2".
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// timeSteps are the tick spacings a time axis chooses from; beyond two weeks it counts
// whole days with niceStep.
var timeSteps = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour,
}

// unixSeconds is the x coordinate of a time on a time axis.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func fromSeconds(s float64, loc *time.Location) time.Time {
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).In(loc)
}

// timeAxis labels [lo, hi] (Unix seconds) with about target ticks at round times in loc:
// midnights for day steps, whole minutes or seconds below. The axis keeps the data's range,
// padded by 2% so points at either end are not cut by the frame: growing it to the next
// round time could add most of a week to the right of the last day.
func timeAxis(lo, hi float64, target int, loc *time.Location) axis {
	if hi <= lo {
		lo, hi = lo-30, hi+30
	}
	span := hi - lo
	// step is the spacing below a day; days the spacing from a day up (then step is a day).
	step, days := timeSteps[len(timeSteps)-1], 0
	for _, s := range timeSteps {
		if span/s.Seconds() <= float64(target) {
			step = s
			break
		}
	}
	if step >= 24*time.Hour {
		days = int(step / (24 * time.Hour))
		if span/(float64(days)*86400) > float64(target) {
			days = int(niceStep(span/86400, target))
		}
		step = 24 * time.Hour
	}
	start := fromSeconds(lo, loc) // the first tick is at or before the data, not the padding
	pad := 0.02 * span
	lo, hi = lo-pad, hi+pad
	if days > 0 {
		start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc)
	} else {
		start = start.Truncate(step)
	}
	a := axis{lo: lo, hi: hi}
	var prev time.Time
	for t := start; unixSeconds(t) <= hi && len(a.ticks) <= 4*target; {
		if unixSeconds(t) >= lo {
			a.ticks = append(a.ticks, unixSeconds(t))
			a.labels = append(a.labels, timeLabel(t, prev, step, span))
			prev = t
		}
		if days > 0 {
			t = t.AddDate(0, 0, days)
		} else {
			t = t.Add(step)
		}
	}
	return a
}

// timeLabel names a tick with no more precision than its step needs, and adds the date where
// it changes from the previous tick.
func timeLabel(t, prev time.Time, step time.Duration, spanSec float64) string {
	newDay := prev.IsZero() || t.YearDay() != prev.YearDay() || t.Year() != prev.Year()
	switch {
	case step >= 24*time.Hour:
		if spanSec > 300*24*3600 {
			return t.Format("2006-01-02")
		}
		return t.Format("Jan 2")
	case step >= time.Minute:
		if newDay {
			return t.Format("Jan 2 15:04")
		}
		return t.Format("15:04")
	case step >= time.Second:
		return t.Format("15:04:05")
	default:
		return t.Format("15:04:05.000")
	}
}
