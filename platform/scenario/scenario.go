// Package scenario is the convention every Casebook binary uses to offer runnable
// demonstrations: a scenario is a named, self-contained run of one idea (a question from the
// roadmap, a failure, a trade-off) that prints what it does and records the evidence it
// measured, so a reader can see the claim and the number side by side.
//
// A binary lists its scenarios in a Set and hands its command line to Set.Main, which
// understands `scenario list` and `scenario run NAME [--json FILE]`.
package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Scenario is one runnable demonstration.
type Scenario struct {
	// Name is unique across all Casebook binaries, grouped by a prefix: "eventlog/replay".
	Name string
	// Summary is one sentence saying what the scenario shows.
	Summary string
	// Run performs the demonstration. It writes narration through the Report and records
	// every number it wants a reader (or a chart) to see with Report.Measure. Returning an
	// error means the demonstration did not show what it claims.
	Run func(ctx context.Context, r *Report) error
}

// Measurement is one number a scenario observed.
type Measurement struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// Check is one claim a scenario verified, with its outcome.
type Check struct {
	Claim string `json:"claim"`
	OK    bool   `json:"ok"`
	// Timing marks a claim about speed (a p99 inside an SLA), whose outcome depends on the
	// machine and what else runs on it. See RunOptions.TimingAdvisory.
	Timing bool `json:"timing,omitempty"`
}

// Result is the machine-readable record of a run, written with --json.
type Result struct {
	Scenario     string        `json:"scenario"`
	Summary      string        `json:"summary"`
	Started      time.Time     `json:"started"`
	Seconds      float64       `json:"seconds"`
	OK           bool          `json:"ok"`
	Error        string        `json:"error,omitempty"`
	Measurements []Measurement `json:"measurements"`
	Checks       []Check       `json:"checks"`
}

// Report is handed to a running scenario: it narrates to a writer and collects evidence.
type Report struct {
	w       io.Writer
	result  Result
	observe func(Line)
}

// Line is one thing a running scenario reported, for an observer that shows a run as it
// happens (the console streams them to a browser). Kind is "step", "say", "measure" or
// "check"; Text is the line as narrated, without its mark; Measurement or Check is set
// for those kinds.
type Line struct {
	Kind        string       `json:"kind"`
	Text        string       `json:"text"`
	Measurement *Measurement `json:"measurement,omitempty"`
	Check       *Check       `json:"check,omitempty"`
}

func (r *Report) emit(l Line) {
	if r.observe != nil {
		r.observe(l)
	}
}

// NewReport returns a Report that narrates to w.
func NewReport(w io.Writer, s Scenario) *Report {
	return &Report{w: w, result: Result{Scenario: s.Name, Summary: s.Summary}}
}

// Step announces what the scenario is about to do.
func (r *Report) Step(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	fmt.Fprintf(r.w, "\n▶ %s\n", text)
	r.emit(Line{Kind: "step", Text: text})
}

// Say prints one line of narration under the current step.
func (r *Report) Say(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	fmt.Fprintf(r.w, "  %s\n", text)
	r.emit(Line{Kind: "say", Text: text})
}

// Measure records a number and prints it.
func (r *Report) Measure(name string, value float64, unit string) {
	m := Measurement{Name: name, Value: value, Unit: unit}
	r.result.Measurements = append(r.result.Measurements, m)
	text := fmt.Sprintf("%s = %s %s", name, formatValue(value), unit)
	fmt.Fprintf(r.w, "  • %s\n", text)
	r.emit(Line{Kind: "measure", Text: strings.TrimSpace(text), Measurement: &m})
}

// Check records whether a claim held and prints it. It returns ok so callers can decide
// whether to stop; a scenario with any failed check fails as a whole.
func (r *Report) Check(claim string, ok bool) bool {
	c := Check{Claim: claim, OK: ok}
	r.result.Checks = append(r.result.Checks, c)
	mark := "✔"
	if !ok {
		mark = "✘"
	}
	fmt.Fprintf(r.w, "  %s %s\n", mark, claim)
	r.emit(Line{Kind: "check", Text: claim, Check: &c})
	return ok
}

// CheckTiming records a claim about speed, such as a p99 inside its SLA. It counts like
// Check when a person runs the scenario; a test suite may run it with
// RunOptions.TimingAdvisory, because performance targets are enforced by benchmarks on a
// quiet machine, never by timed assertions in unit tests.
func (r *Report) CheckTiming(claim string, ok bool) bool {
	c := Check{Claim: claim, OK: ok, Timing: true}
	r.result.Checks = append(r.result.Checks, c)
	mark := "✔"
	if !ok {
		mark = "✘"
	}
	fmt.Fprintf(r.w, "  %s %s (timing)\n", mark, claim)
	r.emit(Line{Kind: "check", Text: claim + " (timing)", Check: &c})
	return ok
}

// Result returns what the run recorded so far.
func (r *Report) Result() Result { return r.result }

func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Set is the scenarios one binary offers.
type Set []Scenario

// Find returns the scenario with the given name.
func (s Set) Find(name string) (Scenario, bool) {
	for _, sc := range s {
		if sc.Name == name {
			return sc, true
		}
	}
	return Scenario{}, false
}

// Names returns the scenario names in the order the set declares them, which is the order
// a walkthrough tells them in.
func (s Set) Names() []string {
	names := make([]string, 0, len(s))
	for _, sc := range s {
		names = append(names, sc.Name)
	}
	return names
}

// ErrUnknown is returned when a scenario name is not in the set.
var ErrUnknown = errors.New("unknown scenario")

// RunOptions changes how a run is judged.
type RunOptions struct {
	// TimingAdvisory reports failed timing checks without failing the run: for test suites
	// on shared or loaded machines. Every other check still fails the run.
	TimingAdvisory bool
	// Observe, when set, is called with each line the scenario reports, as it reports it,
	// on the scenario's goroutine: it must not block for long.
	Observe func(Line)
}

// Run runs one scenario by name, narrating to w, and returns its result. A scenario whose
// Run returns an error or records a failed check fails.
func (s Set) Run(ctx context.Context, name string, w io.Writer) (Result, error) {
	return s.RunWith(ctx, name, w, RunOptions{})
}

// RunWith is Run with options.
func (s Set) RunWith(ctx context.Context, name string, w io.Writer, opts RunOptions) (Result, error) {
	sc, ok := s.Find(name)
	if !ok {
		return Result{}, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(s.Names(), ", "))
	}
	r := NewReport(w, sc)
	r.observe = opts.Observe
	r.result.Started = time.Now().UTC()
	fmt.Fprintf(w, "━━ scenario %s\n   %s\n", sc.Name, sc.Summary)
	err := sc.Run(ctx, r)
	r.result.Seconds = time.Since(r.result.Started).Seconds()
	if err == nil {
		for _, c := range r.result.Checks {
			if !c.OK && !(c.Timing && opts.TimingAdvisory) {
				err = fmt.Errorf("check failed: %s", c.Claim)
				break
			}
		}
	}
	r.result.OK = err == nil
	if err != nil {
		r.result.Error = err.Error()
		fmt.Fprintf(w, "\n✘ %s failed after %.1fs: %v\n", sc.Name, r.result.Seconds, err)
		return r.result, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	fmt.Fprintf(w, "\n✔ %s done in %.1fs\n", sc.Name, r.result.Seconds)
	return r.result, nil
}

// WriteJSON writes results as indented JSON.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}
