package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Profile is a request rate that changes over time. An open-loop schedule follows it: the
// expected number of requests sent by time t is the integral of Rate from 0 to t.
type Profile interface {
	// Rate returns the intended requests per second at offset t from the start of the run.
	Rate(t time.Duration) float64
	// Validate reports why the profile cannot drive a run (a rate <= 0, a period of zero).
	Validate() error
	String() string
}

// Constant is a fixed rate.
type Constant struct{ PerSecond float64 }

// Ramp moves linearly from From to To requests per second over Over, then holds To.
type Ramp struct {
	From, To float64
	Over     time.Duration
}

// Steps holds each rate for Each, in order, then holds the last one.
type Steps struct {
	Rates []float64
	Each  time.Duration
}

// Burst runs at Base and jumps to Peak for the last Length of every Every (so a run starts
// calm): a flash sale, a retry storm, a cron job firing.
type Burst struct {
	Base, Peak    float64
	Every, Length time.Duration
}

// Diurnal follows a day-shaped cosine between Low (at the start, "night") and High (half a
// Period later, "noon"); Period compresses a day into something a run can cover.
type Diurnal struct {
	Low, High float64
	Period    time.Duration
}

// Trace replays recorded times: At holds every request's intended offset from the start,
// in order, for example a recorded stream's event times divided by Speedup. Its Rate is
// the count of offsets within half a second either side, per second. A replay schedule is
// built in two steps on the command line (`--schedule replay:SPEEDUP`): the speed-up
// first, the offsets once the workload that knows the event times exists (TracePending).
type Trace struct {
	At      []time.Duration
	Speedup float64
	// Of names what is replayed, for the report.
	Of string
}

var (
	_ Profile = Trace{}
	_ Profile = Constant{}
	_ Profile = Ramp{}
	_ Profile = Steps{}
	_ Profile = Burst{}
	_ Profile = Diurnal{}
)

// Rate implements Profile.
func (t Trace) Rate(at time.Duration) float64 {
	lo, _ := slices.BinarySearch(t.At, at-500*time.Millisecond)
	hi, _ := slices.BinarySearch(t.At, at+500*time.Millisecond)
	return float64(hi - lo)
}

// Validate implements Profile.
func (t Trace) Validate() error {
	if err := positiveRate("replay speed-up", t.Speedup); err != nil {
		return err
	}
	if len(t.At) == 0 {
		return fmt.Errorf("%w: replay has no recorded times (it needs a workload that has them, such as --workload fraud)", ErrBadSchedule)
	}
	if t.At[0] < 0 || !slices.IsSorted(t.At) {
		return fmt.Errorf("%w: replay times must start at 0 or later and never go back", ErrBadSchedule)
	}
	return nil
}

func (t Trace) String() string {
	of := t.Of
	if of == "" {
		of = "recorded times"
	}
	return fmt.Sprintf("replay of %s at %s× (%d requests over %v)", of, fmtRate(t.Speedup), len(t.At), t.span().Round(time.Millisecond))
}

func (t Trace) span() time.Duration {
	if len(t.At) == 0 {
		return 0
	}
	return t.At[len(t.At)-1]
}

// TracePending reports whether s is a replay still waiting for its times.
func (s Schedule) TracePending() (speedup float64, ok bool) {
	t, isTrace := s.Profile.(Trace)
	return t.Speedup, isTrace && len(t.At) == 0
}

// Rate implements Profile.
func (c Constant) Rate(time.Duration) float64 { return c.PerSecond }

// Validate implements Profile.
func (c Constant) Validate() error { return positiveRate("rate", c.PerSecond) }

func (c Constant) String() string { return fmt.Sprintf("constant %s/s", fmtRate(c.PerSecond)) }

// Rate implements Profile.
func (r Ramp) Rate(t time.Duration) float64 {
	if r.Over <= 0 || t >= r.Over {
		return r.To
	}
	return r.From + (r.To-r.From)*float64(t)/float64(r.Over)
}

// Validate implements Profile.
func (r Ramp) Validate() error {
	if err := nonNegativeRate("ramp start", r.From); err != nil {
		return err
	}
	if err := positiveRate("ramp end", r.To); err != nil {
		return err
	}
	if r.Over <= 0 {
		return fmt.Errorf("%w: ramp needs a positive length, got %v", ErrBadSchedule, r.Over)
	}
	return nil
}

func (r Ramp) String() string {
	return fmt.Sprintf("ramp %s/s → %s/s over %v", fmtRate(r.From), fmtRate(r.To), r.Over)
}

// Rate implements Profile.
func (s Steps) Rate(t time.Duration) float64 {
	if len(s.Rates) == 0 {
		return 0
	}
	i := len(s.Rates) - 1
	if s.Each > 0 {
		i = min(int(t/s.Each), len(s.Rates)-1)
	}
	return s.Rates[i]
}

// Validate implements Profile.
func (s Steps) Validate() error {
	if len(s.Rates) == 0 {
		return fmt.Errorf("%w: steps need at least one rate", ErrBadSchedule)
	}
	for i, r := range s.Rates {
		if err := positiveRate(fmt.Sprintf("step %d rate", i+1), r); err != nil {
			return err
		}
	}
	if s.Each <= 0 {
		return fmt.Errorf("%w: steps need a positive step length, got %v", ErrBadSchedule, s.Each)
	}
	return nil
}

func (s Steps) String() string {
	rs := make([]string, len(s.Rates))
	for i, r := range s.Rates {
		rs[i] = fmtRate(r)
	}
	return fmt.Sprintf("steps %s /s, %v each", strings.Join(rs, " → "), s.Each)
}

// Rate implements Profile.
func (b Burst) Rate(t time.Duration) float64 {
	if b.Every > 0 && t%b.Every >= b.Every-b.Length {
		return b.Peak
	}
	return b.Base
}

// Validate implements Profile.
func (b Burst) Validate() error {
	if err := positiveRate("burst base", b.Base); err != nil {
		return err
	}
	if err := positiveRate("burst peak", b.Peak); err != nil {
		return err
	}
	if b.Every <= 0 || b.Length <= 0 || b.Length > b.Every {
		return fmt.Errorf("%w: burst needs 0 < length <= period, got %v every %v", ErrBadSchedule, b.Length, b.Every)
	}
	return nil
}

func (b Burst) String() string {
	return fmt.Sprintf("burst %s/s with %v at %s/s every %v", fmtRate(b.Base), b.Length, fmtRate(b.Peak), b.Every)
}

// Rate implements Profile.
func (d Diurnal) Rate(t time.Duration) float64 {
	if d.Period <= 0 {
		return d.Low
	}
	phase := 2 * math.Pi * float64(t%d.Period) / float64(d.Period)
	return d.Low + (d.High-d.Low)*(1-math.Cos(phase))/2
}

// Validate implements Profile.
func (d Diurnal) Validate() error {
	if err := positiveRate("diurnal low", d.Low); err != nil {
		return err
	}
	if err := positiveRate("diurnal high", d.High); err != nil {
		return err
	}
	if d.Period <= 0 {
		return fmt.Errorf("%w: diurnal needs a positive period, got %v", ErrBadSchedule, d.Period)
	}
	return nil
}

func (d Diurnal) String() string {
	return fmt.Sprintf("diurnal %s/s ↔ %s/s, period %v", fmtRate(d.Low), fmtRate(d.High), d.Period)
}

// maxRate bounds any profile: beyond it the generator, not the target, is being measured.
const maxRate = 10_000_000

func positiveRate(what string, r float64) error {
	if math.IsNaN(r) || r <= 0 {
		return fmt.Errorf("%w: %s must be above zero requests per second, got %v", ErrBadSchedule, what, r)
	}
	if r > maxRate {
		return fmt.Errorf("%w: %s %v is above the %d/s limit", ErrBadSchedule, what, r, maxRate)
	}
	return nil
}

func nonNegativeRate(what string, r float64) error {
	if math.IsNaN(r) || r < 0 {
		return fmt.Errorf("%w: %s must not be negative, got %v", ErrBadSchedule, what, r)
	}
	if r > maxRate {
		return fmt.Errorf("%w: %s %v is above the %d/s limit", ErrBadSchedule, what, r, maxRate)
	}
	return nil
}

func fmtRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

// Schedule is an open-loop plan: a rate Profile and how arrivals are spaced under it.
type Schedule struct {
	Profile Profile
	// Poisson spaces arrivals with exponential gaps (independent users arriving at random),
	// stretched in time to follow the profile; otherwise they are evenly spaced.
	Poisson bool
}

func (s Schedule) String() string {
	if s.Profile == nil {
		return "no schedule"
	}
	if _, ok := s.Profile.(Trace); ok {
		return s.Profile.String()
	}
	if s.Poisson {
		return s.Profile.String() + ", Poisson arrivals"
	}
	return s.Profile.String() + ", evenly spaced"
}

// Validate reports whether the schedule can drive a run.
func (s Schedule) Validate() error {
	if s.Profile == nil {
		return fmt.Errorf("%w: no rate profile", ErrBadSchedule)
	}
	return s.Profile.Validate()
}

// integrationStep is the resolution at which non-constant profiles are integrated. Within a
// step the rate is taken as linear, so ramps are exact and step changes smear over 1 ms.
const integrationStep = time.Millisecond

// Expected returns how many requests the profile asks for in [0, d): the integral of its rate.
func (s Schedule) Expected(d time.Duration) float64 {
	if c, ok := s.Profile.(Constant); ok {
		return c.PerSecond * d.Seconds()
	}
	if t, ok := s.Profile.(Trace); ok {
		n, _ := slices.BinarySearch(t.At, d)
		return float64(n)
	}
	h := integrationStep.Seconds()
	total := 0.0
	for k := int64(0); ; k++ {
		t0 := time.Duration(k) * integrationStep
		if t0 >= d {
			return total
		}
		t1 := min(t0+integrationStep, d)
		frac := float64(t1-t0) / float64(integrationStep)
		r0, r1 := s.Profile.Rate(t0), s.Profile.Rate(t1)
		total += (r0 + r1) / 2 * h * frac
	}
}

// Arrivals returns the sequence of intended send offsets the schedule produces before
// horizon. Offsets are computed from the schedule start, never from the previous send, so a
// generator that falls behind cannot shift the plan.
func (s Schedule) Arrivals(horizon time.Duration, seed uint64) *Arrivals {
	a := &Arrivals{
		profile: s.Profile,
		horizon: horizon,
		poisson: s.Poisson,
		rng:     rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
	}
	if c, ok := s.Profile.(Constant); ok {
		a.constant = c.PerSecond
	}
	if t, ok := s.Profile.(Trace); ok {
		a.trace, a.isTrace = t.At, true
		return a
	}
	if !a.isConstant() {
		a.r0 = s.Profile.Rate(0)
	}
	return a
}

// Arrivals iterates over a schedule's intended send offsets.
type Arrivals struct {
	profile  Profile
	horizon  time.Duration
	poisson  bool
	rng      *rand.Rand
	constant float64 // > 0: closed-form fast path
	trace    []time.Duration
	isTrace  bool

	n      int64   // arrivals returned so far
	target float64 // cumulative expected count at which the next arrival falls
	// Integration state for non-constant profiles: step k covers [k*h, (k+1)*h).
	k     int64
	massK float64 // integral of the rate over [0, k*h)
	r0    float64 // rate at k*h
	done  bool
}

func (a *Arrivals) isConstant() bool { return a.constant > 0 }

// Next returns the next intended send offset, or false once the schedule has no arrival
// before its horizon.
func (a *Arrivals) Next() (time.Duration, bool) {
	if a.done {
		return 0, false
	}
	if a.isTrace {
		if a.n >= int64(len(a.trace)) || a.trace[a.n] >= a.horizon {
			a.done = true
			return 0, false
		}
		a.n++
		return a.trace[a.n-1], true
	}
	// Evenly spaced arrivals fall where the expected count crosses 0, 1, 2, ...; Poisson
	// arrivals where it crosses a running sum of unit-mean exponential gaps (a
	// unit-rate Poisson process, stretched in time to follow the profile).
	if a.poisson {
		a.target += a.rng.ExpFloat64()
	} else {
		a.target = float64(a.n)
	}
	var at time.Duration
	if a.isConstant() {
		at = time.Duration(a.target / a.constant * 1e9)
	} else {
		var ok bool
		if at, ok = a.invert(a.target); !ok {
			a.done = true
			return 0, false
		}
	}
	if at >= a.horizon {
		a.done = true
		return 0, false
	}
	a.n++
	return at, true
}

// invert finds the time at which the integral of the rate reaches target, walking forward
// from the current step.
func (a *Arrivals) invert(target float64) (time.Duration, bool) {
	h := integrationStep.Seconds()
	for {
		t0 := time.Duration(a.k) * integrationStep
		if t0 >= a.horizon {
			return 0, false
		}
		r1 := a.profile.Rate(t0 + integrationStep)
		mass := (a.r0 + r1) / 2 * h
		if need := target - a.massK; need <= mass && mass > 0 {
			// Within the step the rate is r0 + (r1-r0)s/h, so the count after s seconds is
			// r0*s + (r1-r0)s²/(2h). Solve for s in the cancellation-free form.
			aq := (r1 - a.r0) / (2 * h)
			disc := math.Max(a.r0*a.r0+4*aq*need, 0)
			den := a.r0 + math.Sqrt(disc)
			s := 0.0
			if den > 0 {
				s = 2 * need / den
			}
			s = math.Min(math.Max(s, 0), h)
			return t0 + time.Duration(s*1e9), true
		}
		a.massK += mass
		a.r0 = r1
		a.k++
	}
}

// ParseSchedule reads a schedule from the command line's vocabulary:
//
//	constant                 rate requests per second, evenly spaced
//	poisson                  rate requests per second, exponential gaps
//	ramp:FROM-TO             linear from FROM/s to TO/s over the run's duration
//	steps:R1,R2,...@STEP     each rate held for STEP, then the last one held
//	burst:BASE-PEAK@EVERY/LEN  BASE/s with LEN at PEAK/s at the end of every EVERY
//	diurnal:LOW-HIGH@PERIOD  a day-shaped curve from LOW/s up to HIGH/s and back per PERIOD
//	replay:SPEEDUP           the workload's recorded event times, SPEEDUP times faster
//	                         (a workload that has them, e.g. fraud; see Trace)
//
// rate is used by constant and poisson; duration by ramp. poisson spaces the arrivals of any
// shape with exponential gaps.
func ParseSchedule(spec string, rate float64, duration time.Duration, poisson bool) (Schedule, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(spec), ":")
	bad := func(format string, args ...any) (Schedule, error) {
		return Schedule{}, fmt.Errorf("%w: %q: %s", ErrBadSchedule, spec, fmt.Sprintf(format, args...))
	}
	var p Profile
	switch kind {
	case "constant", "poisson", "":
		if arg != "" {
			return bad("%s takes no argument; set the rate with --rate", kind)
		}
		p = Constant{PerSecond: rate}
		poisson = poisson || kind == "poisson"
	case "ramp":
		from, to, err := parseRange(arg)
		if err != nil {
			return bad("want ramp:FROM-TO, e.g. ramp:100-5000: %v", err)
		}
		p = Ramp{From: from, To: to, Over: duration}
	case "steps":
		list, each, ok := strings.Cut(arg, "@")
		if !ok {
			return bad("want steps:R1,R2,...@STEP, e.g. steps:1000,2000,4000@10s")
		}
		d, err := time.ParseDuration(each)
		if err != nil {
			return bad("step length: %v", err)
		}
		var rates []float64
		for _, f := range strings.Split(list, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return bad("step rate %q is not a number", f)
			}
			rates = append(rates, r)
		}
		p = Steps{Rates: rates, Each: d}
	case "burst":
		rng, shape, ok := strings.Cut(arg, "@")
		every, length, ok2 := strings.Cut(shape, "/")
		if !ok || !ok2 {
			return bad("want burst:BASE-PEAK@EVERY/LEN, e.g. burst:1000-5000@10s/1s")
		}
		base, peak, err := parseRange(rng)
		if err != nil {
			return bad("%v", err)
		}
		e, err1 := time.ParseDuration(every)
		l, err2 := time.ParseDuration(length)
		if err1 != nil || err2 != nil {
			return bad("burst period and length must be durations like 10s/1s")
		}
		p = Burst{Base: base, Peak: peak, Every: e, Length: l}
	case "replay":
		x, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		if err != nil || !(x > 0) || math.IsInf(x, 0) {
			return bad("want replay:SPEEDUP, e.g. replay:100000 (event time runs 100,000 times faster)")
		}
		if poisson {
			return bad("a replay sends at the recorded times; --arrivals poisson does not apply")
		}
		// The times come from the workload (TracePending); nothing more to check here.
		return Schedule{Profile: Trace{Speedup: x}}, nil
	case "diurnal":
		rng, period, ok := strings.Cut(arg, "@")
		if !ok {
			return bad("want diurnal:LOW-HIGH@PERIOD, e.g. diurnal:200-2000@60s")
		}
		low, high, err := parseRange(rng)
		if err != nil {
			return bad("%v", err)
		}
		d, err := time.ParseDuration(period)
		if err != nil {
			return bad("period: %v", err)
		}
		p = Diurnal{Low: low, High: high, Period: d}
	default:
		return bad("unknown schedule %q (want constant, poisson, ramp:FROM-TO, steps:R1,R2@STEP, burst:BASE-PEAK@EVERY/LEN, diurnal:LOW-HIGH@PERIOD or replay:SPEEDUP)", kind)
	}
	s := Schedule{Profile: p, Poisson: poisson}
	if err := s.Validate(); err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

func parseRange(s string) (float64, float64, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("want two rates separated by '-', got %q", s)
	}
	x, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("rates %q are not numbers", s)
	}
	return x, y, nil
}
