package pacing

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestDiurnalCumulativeShare(t *testing.T) {
	d := DefaultDiurnal()
	sum := 0.0
	for h := range 24 {
		at := time.Duration(h) * time.Hour
		if got := d.CumulativeShare(at); math.Abs(got-sum) > 1e-12 {
			t.Errorf("CumulativeShare(%v) = %v, want %v (the shares of the hours before)", at, got, sum)
		}
		sum += d.HourShare(h)
	}
	tests := []struct {
		at   time.Duration
		want float64
	}{
		{-time.Hour, 0},
		{0, 0},
		{Day, 1},
		{Day + time.Hour, 1},
		{30 * time.Minute, d.HourShare(0) / 2},
	}
	for _, tt := range tests {
		if got := d.CumulativeShare(tt.at); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("CumulativeShare(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
	prev := -1.0
	for m := 0; m <= 1440; m++ {
		got := d.CumulativeShare(time.Duration(m) * time.Minute)
		if got < prev {
			t.Fatalf("CumulativeShare(%d min) = %v < %v: not monotone", m, got, prev)
		}
		prev = got
	}
	if night, peak := d.HourShare(4), d.HourShare(20); !(night < peak/5) {
		t.Errorf("HourShare(4) = %v, HourShare(20) = %v, want a night trough well below the evening peak", night, peak)
	}
	if got := d.Between(20*time.Hour, 21*time.Hour); math.Abs(got-d.HourShare(20)) > 1e-12 {
		t.Errorf("Between(20h, 21h) = %v, want %v", got, d.HourShare(20))
	}
}

func TestNewDiurnalErrors(t *testing.T) {
	var zero, neg, inf [24]float64
	neg[3], neg[4] = -1, 2
	inf[0] = math.Inf(1)
	for i, w := range [][24]float64{zero, neg, inf} {
		if _, err := NewDiurnal(w); !errors.Is(err, ErrConfig) {
			t.Errorf("case %d: NewDiurnal = %v, want ErrConfig", i, err)
		}
	}
	if err := (Diurnal{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("Diurnal{}.Validate() = %v, want ErrConfig", err)
	}
	var w [24]float64
	w[12] = 5 // all traffic at noon: any positive scale is fine
	d, err := NewDiurnal(w)
	if err != nil {
		t.Fatalf("NewDiurnal(noon only) = %v", err)
	}
	if got := d.CumulativeShare(12*time.Hour + 15*time.Minute); got != 0.25 {
		t.Errorf("CumulativeShare(12:15) = %v, want 0.25", got)
	}
}

func TestPlanElapsed(t *testing.T) {
	p := Plan{DayStart: t0, Curve: DefaultDiurnal()}
	tests := []struct {
		now  time.Time
		want time.Duration
	}{
		{t0.Add(-time.Hour), 0},
		{t0.Add(90 * time.Minute), 90 * time.Minute},
		{t0.Add(30 * time.Hour), Day},
	}
	for _, tt := range tests {
		if got := p.Elapsed(tt.now); got != tt.want {
			t.Errorf("Elapsed(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
}
