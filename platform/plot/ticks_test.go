package plot

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestLinearAxis(t *testing.T) {
	for _, tc := range []struct {
		lo, hi     float64
		target     int
		extend     bool
		wantLabels []string
	}{
		{0, 1, 5, true, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}},
		{0, 0.93, 5, true, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}},
		{3, 97, 8, true, []string{"0", "10", "20", "30", "40", "50", "60", "70", "80", "90", "100"}},
		{0, 1, 10, false, []string{"0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"}},
		{0.05, 0.95, 4, false, []string{"0.2", "0.4", "0.6", "0.8"}},
		{-7, 12, 5, true, []string{"-10", "-5", "0", "5", "10", "15"}},
		{0, 48000, 5, true, []string{"0", "10k", "20k", "30k", "40k", "50k"}},
		{0, 2.5e6, 5, true, []string{"0", "0.5M", "1M", "1.5M", "2M", "2.5M"}},
		{0, 0.0031, 3, true, []string{"0", "0.001", "0.002", "0.003", "0.004"}},
		{5, 5, 5, true, []string{"4.4", "4.6", "4.8", "5", "5.2", "5.4", "5.6"}},
		{0, 0, 5, true, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}},
	} {
		a, err := linearAxis(tc.lo, tc.hi, tc.target, tc.extend)
		if err != nil {
			t.Fatalf("linearAxis(%v, %v) error %v", tc.lo, tc.hi, err)
		}
		if !slices.Equal(a.labels, tc.wantLabels) {
			t.Errorf("linearAxis(%v, %v, %d, %v) labels = %q, want %q", tc.lo, tc.hi, tc.target, tc.extend, a.labels, tc.wantLabels)
		}
		if tc.extend && (a.lo > math.Min(tc.lo, tc.hi) || a.hi < tc.hi) {
			t.Errorf("linearAxis(%v, %v) = [%v, %v], does not cover the data", tc.lo, tc.hi, a.lo, a.hi)
		}
	}
	if _, err := linearAxis(-math.MaxFloat64, math.MaxFloat64, 5, true); err == nil {
		t.Errorf("linearAxis(-max, max) error = nil, want ErrRange")
	}
}

func TestLabelsDistinct(t *testing.T) {
	// Whatever the range, neighbouring ticks must not print the same.
	for _, r := range [][2]float64{{0, 1e-7}, {1e9, 1e9 + 3}, {0.1, 0.1000003}, {-1e-3, 1e-3}, {12345, 12346}, {0, 1e15}} {
		a, err := linearAxis(r[0], r[1], 6, true)
		if err != nil {
			t.Fatalf("linearAxis(%v) error %v", r, err)
		}
		if len(a.ticks) < 2 {
			t.Errorf("linearAxis(%v) has %d ticks, want ≥ 2", r, len(a.ticks))
		}
		for i := 1; i < len(a.labels); i++ {
			if a.labels[i] == a.labels[i-1] {
				t.Errorf("linearAxis(%v) labels = %q, repeat %q", r, a.labels, a.labels[i])
			}
		}
	}
}

func TestLogAxis(t *testing.T) {
	for _, tc := range []struct {
		min, max float64
		want     []string
	}{
		{1, 950, []string{"0.1", "1", "10", "100", "1000"}},
		{3, 20000, []string{"1", "10", "100", "1000", "10k", "100k"}},
		{0.002, 0.4, []string{"0.001", "0.01", "0.1", "1"}},
	} {
		a := logAxis(tc.min, tc.max)
		if !slices.Equal(a.labels, tc.want) {
			t.Errorf("logAxis(%v, %v) labels = %q, want %q", tc.min, tc.max, a.labels, tc.want)
		}
		if a.lo > tc.min || a.hi < tc.max {
			t.Errorf("logAxis(%v, %v) = [%v, %v], does not cover the data", tc.min, tc.max, a.lo, a.hi)
		}
	}
}

func TestTimeAxis(t *testing.T) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		lo, hi   time.Time
		want     []string
		wantLast string
	}{
		{"week of days", day, day.AddDate(0, 0, 6), []string{"Mar 1", "Mar 2", "Mar 3", "Mar 4", "Mar 5", "Mar 6", "Mar 7"}, ""},
		{"month", day, day.AddDate(0, 0, 30), []string{"Mar 1", "Mar 8", "Mar 15", "Mar 22", "Mar 29"}, ""},
		{"two minutes", day.Add(10 * time.Second), day.Add(130 * time.Second), []string{"00:00:30", "00:01:00", "00:01:30", "00:02:00"}, ""},
		{"hours over midnight", day.Add(-3 * time.Hour), day.Add(2 * time.Hour), []string{"Feb 28 21:00", "22:00", "23:00", "Mar 1 00:00", "01:00", "02:00"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := timeAxis(unixSeconds(tc.lo), unixSeconds(tc.hi), 7, time.UTC)
			if tc.want != nil && !slices.Equal(a.labels, tc.want) {
				t.Errorf("timeAxis labels = %q, want %q", a.labels, tc.want)
			}
			if tc.wantLast != "" && a.labels[len(a.labels)-1] != tc.wantLast {
				t.Errorf("timeAxis last label = %q (all %q), want %q", a.labels[len(a.labels)-1], a.labels, tc.wantLast)
			}
			if len(a.ticks) > 12 {
				t.Errorf("timeAxis has %d ticks, want at most 12", len(a.ticks))
			}
			if a.lo > unixSeconds(tc.lo) || a.hi < unixSeconds(tc.hi) {
				t.Errorf("timeAxis = [%v, %v], does not cover the data", a.lo, a.hi)
			}
		})
	}
}
