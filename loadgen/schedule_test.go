package loadgen

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func collect(s Schedule, horizon time.Duration, seed uint64) []time.Duration {
	a := s.Arrivals(horizon, seed)
	var out []time.Duration
	for {
		at, ok := a.Next()
		if !ok {
			return out
		}
		out = append(out, at)
	}
}

// countIn counts offsets in [from, to).
func countIn(ats []time.Duration, from, to time.Duration) int {
	n := 0
	for _, at := range ats {
		if at >= from && at < to {
			n++
		}
	}
	return n
}

func TestScheduleCounts(t *testing.T) {
	sec := time.Second
	tests := []struct {
		name    string
		s       Schedule
		horizon time.Duration
		// want[i] is the expected count in second i; tol is the allowed absolute error.
		want []int
		tol  int
	}{
		{"constant", Schedule{Profile: Constant{PerSecond: 1000}}, 3 * sec, []int{1000, 1000, 1000}, 0},
		{"ramp 0→1000 over 2s", Schedule{Profile: Ramp{From: 0, To: 1000, Over: 2 * sec}}, 2 * sec, []int{250, 750}, 2},
		{"ramp 1000→0 is refused elsewhere; 200→600", Schedule{Profile: Ramp{From: 200, To: 600, Over: 2 * sec}}, 2 * sec, []int{300, 500}, 2},
		{"steps", Schedule{Profile: Steps{Rates: []float64{100, 300, 200}, Each: sec}}, 4 * sec, []int{100, 300, 200, 200}, 1},
		{"burst", Schedule{Profile: Burst{Base: 100, Peak: 1000, Every: 2 * sec, Length: sec}}, 4 * sec, []int{100, 1000, 100, 1000}, 1},
		{"diurnal", Schedule{Profile: Diurnal{Low: 100, High: 1100, Period: 4 * sec}}, 4 * sec, []int{282, 918, 918, 282}, 2},
		{"poisson constant", Schedule{Profile: Constant{PerSecond: 2000}, Poisson: true}, 3 * sec, []int{2000, 2000, 2000}, 150},
		{"poisson steps", Schedule{Profile: Steps{Rates: []float64{500, 2000}, Each: sec}, Poisson: true}, 2 * sec, []int{500, 2000}, 120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ats := collect(tc.s, tc.horizon, 1)
			for i, want := range tc.want {
				got := countIn(ats, time.Duration(i)*sec, time.Duration(i+1)*sec)
				if d := got - want; d > tc.tol || d < -tc.tol {
					t.Errorf("%s: arrivals in second %d = %d, want %d ± %d", tc.s, i, got, want, tc.tol)
				}
			}
			if exp := tc.s.Expected(tc.horizon); math.Abs(exp-float64(len(ats))) > float64(tc.tol)+2 && !tc.s.Poisson {
				t.Errorf("Expected(%v) = %v, want close to the %d arrivals generated", tc.horizon, exp, len(ats))
			}
			for i := 1; i < len(ats); i++ {
				if ats[i] < ats[i-1] {
					t.Fatalf("arrival %d at %v comes before arrival %d at %v", i, ats[i], i-1, ats[i-1])
				}
			}
		})
	}
}

// TestConstantIsExact: evenly spaced arrivals are computed from the start, i/rate, with no
// drift from accumulated gaps.
func TestConstantIsExact(t *testing.T) {
	ats := collect(Schedule{Profile: Constant{PerSecond: 3}}, 10*time.Minute, 1)
	if len(ats) != 1800 {
		t.Fatalf("arrivals = %d, want 1800", len(ats))
	}
	for _, i := range []int{0, 1, 2, 3, 1799} {
		want := time.Duration(float64(i) / 3 * 1e9)
		if ats[i] != want {
			t.Errorf("arrival %d at %v, want %v", i, ats[i], want)
		}
	}
}

// TestPoissonGaps: exponential gaps have mean 1/rate and a standard deviation equal to the
// mean; evenly spaced ones have none. Fixed seeds make this deterministic.
func TestPoissonGaps(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		ats := collect(Schedule{Profile: Constant{PerSecond: 1000}, Poisson: true}, 20*time.Second, seed)
		var sum, sumSq float64
		for i := 1; i < len(ats); i++ {
			g := (ats[i] - ats[i-1]).Seconds()
			sum += g
			sumSq += g * g
		}
		n := float64(len(ats) - 1)
		mean := sum / n
		cv := math.Sqrt(sumSq/n-mean*mean) / mean
		if math.Abs(mean-0.001)/0.001 > 0.03 {
			t.Errorf("seed %d: mean gap = %v, want 1ms ± 3%%", seed, time.Duration(mean*1e9))
		}
		if math.Abs(cv-1) > 0.05 {
			t.Errorf("seed %d: coefficient of variation of gaps = %.3f, want 1 ± 0.05 (exponential)", seed, cv)
		}
	}
	a := collect(Schedule{Profile: Constant{PerSecond: 1000}, Poisson: true}, time.Second, 7)
	b := collect(Schedule{Profile: Constant{PerSecond: 1000}, Poisson: true}, time.Second, 7)
	if len(a) != len(b) || a[len(a)/2] != b[len(b)/2] {
		t.Errorf("two Poisson schedules with seed 7 differ: the seed must make them reproducible")
	}
}

func TestParseSchedule(t *testing.T) {
	const d = 10 * time.Second
	good := []struct {
		spec    string
		rate    float64
		want    Profile
		poisson bool
	}{
		{"constant", 500, Constant{PerSecond: 500}, false},
		{"poisson", 500, Constant{PerSecond: 500}, true},
		{"ramp:0-5000", 0, Ramp{From: 0, To: 5000, Over: d}, false},
		{"steps:100,200,400@2s", 0, Steps{Rates: []float64{100, 200, 400}, Each: 2 * time.Second}, false},
		{"burst:1000-5000@10s/1s", 0, Burst{Base: 1000, Peak: 5000, Every: 10 * time.Second, Length: time.Second}, false},
		{"diurnal:200-2000@60s", 0, Diurnal{Low: 200, High: 2000, Period: time.Minute}, false},
	}
	for _, tc := range good {
		s, err := ParseSchedule(tc.spec, tc.rate, d, false)
		if err != nil {
			t.Errorf("ParseSchedule(%q) error = %v, want nil", tc.spec, err)
			continue
		}
		if s.Profile.String() != tc.want.String() || s.Poisson != tc.poisson {
			t.Errorf("ParseSchedule(%q) = %v (poisson %v), want %v (poisson %v)", tc.spec, s.Profile, s.Poisson, tc.want, tc.poisson)
		}
	}
	bad := []struct {
		spec string
		rate float64
	}{
		{"constant", 0},
		{"constant", -10},
		{"poisson", 0},
		{"constant:5", 10},
		{"ramp:5000", 0},
		{"ramp:0-0", 0},
		{"ramp:-5-100", 0},
		{"steps:100,0@1s", 0},
		{"steps:100,200", 0},
		{"steps:100,x@1s", 0},
		{"burst:100-500@1s/2s", 0},
		{"diurnal:100-200", 0},
		{"sawtooth", 10},
		{"constant", 1e9},
	}
	for _, tc := range bad {
		if _, err := ParseSchedule(tc.spec, tc.rate, d, false); !errors.Is(err, ErrBadSchedule) {
			t.Errorf("ParseSchedule(%q, rate %v) error = %v, want ErrBadSchedule", tc.spec, tc.rate, err)
		}
	}
}

// A replay sends at the recorded offsets, in order, up to the horizon; it is built in two
// steps (the speed-up, then the times).
func TestTraceSchedule(t *testing.T) {
	s, err := ParseSchedule("replay:1000", 0, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	if x, pending := s.TracePending(); !pending || x != 1000 {
		t.Fatalf("TracePending() = %v, %v; want 1000, true", x, pending)
	}
	if err := s.Validate(); err == nil {
		t.Error("a replay without times validated")
	}
	at := []time.Duration{0, 0, 10 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second}
	s = Schedule{Profile: Trace{At: at, Speedup: 1000}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for a := s.Arrivals(time.Second, 1); ; {
		d, ok := a.Next()
		if !ok {
			break
		}
		got = append(got, d)
	}
	if !slices.Equal(got, at[:4]) || s.Expected(time.Second) != 4 {
		t.Errorf("arrivals %v, expected %v; want %v and 4", got, s.Expected(time.Second), at[:4])
	}
	if r := s.Profile.Rate(0); r != 4 {
		t.Errorf("Rate(0) = %v, want 4 (the offsets within half a second)", r)
	}
	for _, bad := range []Trace{{At: []time.Duration{time.Second, 0}, Speedup: 1}, {At: at, Speedup: 0}} {
		if err := (Schedule{Profile: bad}).Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	for _, spec := range []string{"replay:0", "replay:x", "replay:-3"} {
		if _, err := ParseSchedule(spec, 0, time.Second, false); err == nil {
			t.Errorf("ParseSchedule(%q) = nil error", spec)
		}
	}
}
