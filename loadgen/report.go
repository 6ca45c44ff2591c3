package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Report is everything one run measured. Latencies are in milliseconds, rates in requests
// per second. It round-trips through JSON unchanged.
type Report struct {
	Mode        Mode      `json:"mode"`
	Schedule    string    `json:"schedule,omitempty"`
	Target      string    `json:"target"`
	Workload    string    `json:"workload"`
	Concurrency int       `json:"concurrency"` // open loop: workers; closed loop: users
	ThinkTimeMs float64   `json:"think_time_ms,omitempty"`
	Started     time.Time `json:"started"`
	Seed        uint64    `json:"seed"`

	DurationS   float64 `json:"duration_s"`    // the configured send window
	SendWindowS float64 `json:"send_window_s"` // the send window actually used
	ElapsedS    float64 `json:"elapsed_s"`     // including the drain of requests in flight
	Interrupted bool    `json:"interrupted,omitempty"`

	TargetRate   float64 `json:"target_rate,omitempty"` // open loop: scheduled per second of send window
	AchievedRate float64 `json:"achieved_rate"`         // sent per second of send window

	Scheduled   int64            `json:"scheduled"`
	Sent        int64            `json:"sent"`
	OK          int64            `json:"ok"`
	Failed      int64            `json:"failed"`
	NotSent     int64            `json:"not_sent"`
	Abandoned   int64            `json:"abandoned,omitempty"`
	Late        int64            `json:"late"`
	LateAfterMs float64          `json:"late_after_ms"`
	TickMs      float64          `json:"tick_ms,omitempty"`
	ErrorRate   float64          `json:"error_rate"` // (failed + not sent + abandoned) / scheduled
	Errors      map[string]int64 `json:"errors"`

	// SendLag is the generator's own delay: from intended to actual send time.
	SendLag Latency `json:"send_lag"`
	// Corrected latency runs from the intended send time to the answer.
	Corrected Latency `json:"corrected"`
	// Uncorrected latency runs from the actual send time to the answer: what a tool that
	// measures from when it got around to sending would report.
	Uncorrected  Latency    `json:"uncorrected"`
	Distribution []Quantile `json:"distribution"`
	WindowS      float64    `json:"window_s"`
	Series       []Window   `json:"series"`

	// GeneratorCPUS is the generator process's own CPU time (user + system) over the run,
	// when the caller measured it (the loadgen command does): what the load costs the
	// machine it shares with the target. Zero when not measured.
	GeneratorCPUS float64 `json:"generator_cpu_s,omitempty"`

	Notes []string    `json:"notes"`
	SLOs  []SLOResult `json:"slos,omitempty"`
}

// SetGeneratorCPU records the generator's own CPU time over the run, and says in a note
// what that is per request sent.
func (r *Report) SetGeneratorCPU(cpu time.Duration) {
	r.GeneratorCPUS = cpu.Seconds()
	per := ""
	if r.Sent > 0 {
		per = fmt.Sprintf(", %.1f µs per request sent", cpu.Seconds()*1e6/float64(r.Sent))
	}
	if r.ElapsedS > 0 {
		per += fmt.Sprintf(", %.2f of a core", cpu.Seconds()/r.ElapsedS)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("generator CPU (this process, user + system, over the run): %.2f s%s", cpu.Seconds(), per))
}

// Latency summarises one histogram.
type Latency struct {
	Count  int64   `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Quantile is one point of the latency distribution.
type Quantile struct {
	Percentile    float64 `json:"percentile"`
	CorrectedMs   float64 `json:"corrected_ms"`
	UncorrectedMs float64 `json:"uncorrected_ms"`
}

// Window is one bucket of latency over time. Requests are bucketed by intended send time,
// completions by the time they were answered.
type Window struct {
	StartS           float64 `json:"start_s"`
	Scheduled        int64   `json:"scheduled"`
	Completed        int64   `json:"completed"`
	Errors           int64   `json:"errors"`
	CorrectedP50Ms   float64 `json:"corrected_p50_ms"`
	CorrectedP99Ms   float64 `json:"corrected_p99_ms"`
	CorrectedMaxMs   float64 `json:"corrected_max_ms"`
	UncorrectedP99Ms float64 `json:"uncorrected_p99_ms"`
}

// distributionPercentiles are the points of the percentile plot, spaced for a log "nines" axis.
var distributionPercentiles = []float64{0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100}

func toMs(units int64) float64 { return float64(units) * float64(histUnit) / float64(time.Millisecond) }

func summarize(h *hdr.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count:  h.TotalCount(),
		MeanMs: math.Round(h.Mean()*float64(histUnit)/float64(time.Microsecond)) / 1000,
		P50Ms:  toMs(h.ValueAtPercentile(50)),
		P90Ms:  toMs(h.ValueAtPercentile(90)),
		P99Ms:  toMs(h.ValueAtPercentile(99)),
		P999Ms: toMs(h.ValueAtPercentile(99.9)),
		MaxMs:  toMs(h.Max()),
	}
}

// report merges the workers' histograms and the series into a Report.
func (e *Engine) report(st *run, p pacing, abandoned int64, elapsed time.Duration) *Report {
	cfg := st.cfg
	corrected, uncorrected, lag := newFine(), newFine(), newCoarse()
	rep := &Report{
		Mode:        cfg.Mode,
		Target:      describe(e.target),
		Workload:    describe(e.workload),
		Concurrency: cfg.concurrency(),
		Started:     st.start.UTC(),
		Seed:        cfg.Seed,
		DurationS:   cfg.Duration.Seconds(),
		SendWindowS: p.sendWindow.Seconds(),
		ElapsedS:    elapsed.Seconds(),
		Interrupted: p.interrupted,
		NotSent:     p.notSent,
		Abandoned:   abandoned,
		LateAfterMs: float64(cfg.LateAfter) / float64(time.Millisecond),
		TickMs:      float64(cfg.Tick) / float64(time.Millisecond),
		Errors:      map[string]int64{},
		WindowS:     st.series.width.Seconds(),
	}
	for _, r := range st.recs {
		r.mu.Lock()
		r.flushLocked()
		corrected.Merge(r.corrected)
		uncorrected.Merge(r.uncorrected)
		lag.Merge(r.lag)
		rep.Sent += r.sent
		rep.Failed += r.failed
		rep.Late += r.late
		for k, n := range r.errors {
			rep.Errors[k] += n
		}
		r.mu.Unlock()
	}
	// A request counts as sent once its worker started it; abandoned ones never recorded.
	rep.Sent += abandoned
	rep.OK = rep.Sent - rep.Failed - abandoned
	rep.Scheduled = rep.Sent + rep.NotSent
	if p.notSent > 0 {
		rep.Errors[KindNotSent] += p.notSent
	}
	if abandoned > 0 {
		rep.Errors[KindAbandoned] += abandoned
	}
	if rep.Scheduled > 0 {
		rep.ErrorRate = float64(rep.Failed+rep.NotSent+abandoned) / float64(rep.Scheduled)
	}
	if w := p.sendWindow.Seconds(); w > 0 {
		rep.AchievedRate = float64(rep.Sent) / w
		if cfg.Mode == Open {
			rep.TargetRate = cfg.Schedule.Expected(p.sendWindow) / w
		}
	}
	rep.SendLag = summarize(lag)
	rep.Corrected = summarize(corrected)
	rep.Uncorrected = summarize(uncorrected)
	if corrected.TotalCount() > 0 {
		for _, q := range distributionPercentiles {
			rep.Distribution = append(rep.Distribution, Quantile{
				Percentile:    q,
				CorrectedMs:   toMs(corrected.ValueAtPercentile(q)),
				UncorrectedMs: toMs(uncorrected.ValueAtPercentile(q)),
			})
		}
	}
	rep.Series = st.series.windows()

	if cfg.Mode == Open {
		rep.Schedule = cfg.Schedule.String()
		rep.Notes = append(rep.Notes,
			"open loop: requests are sent on schedule whether or not earlier ones were answered; corrected latency is measured from each request's intended send time",
			fmt.Sprintf("when all %d workers are busy, scheduled requests queue in the generator: the wait counts in their corrected latency and makes them late; requests still queued when the send window closes are counted as not sent (an error), never dropped silently", cfg.Workers),
		)
		if cfg.Tick > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("pacer tick %v: the pacer wakes at most once per tick and sends what has come due since, so a request leaves up to a tick after its intended time; that wait is in its corrected latency and send lag", cfg.Tick))
		}
	} else {
		rep.ThinkTimeMs = float64(cfg.ThinkTime) / float64(time.Millisecond)
		rep.Notes = append(rep.Notes,
			fmt.Sprintf("closed loop (%d users): latency is uncorrected by construction; a user sends only after its previous answer, so a slow system slows its own load and a stall shows up as missing requests, not as latency", cfg.Users),
		)
	}
	rep.Notes = append(rep.Notes, "latency includes failed requests; a timed-out request counts with the time it took to time out")
	for _, v := range []any{e.target, e.workload} {
		if a, ok := v.(Annotator); ok {
			rep.Notes = append(rep.Notes, a.Notes()...)
		}
	}
	if p.interrupted {
		rep.Notes = append(rep.Notes, "the run was interrupted before its send window closed")
	}
	if abandoned > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d requests were abandoned: the target did not return within timeout + %v", abandoned, abandonGrace))
	}
	return rep
}

func describe(v any) string {
	if s, ok := v.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", v)
}

// windows summarises the series, dropping empty trailing windows.
func (s *series) windows() []Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := max(len(s.wins), len(s.done))
	out := make([]Window, 0, n)
	for i := range n {
		w := Window{StartS: (time.Duration(i) * s.width).Seconds()}
		if i < len(s.done) {
			w.Completed = s.done[i].Load()
		}
		if i < len(s.wins) && s.wins[i].corrected != nil {
			sw := s.wins[i]
			w.Scheduled, w.Errors = sw.n, sw.errs
			w.CorrectedP50Ms = toMs(sw.corrected.ValueAtPercentile(50))
			w.CorrectedP99Ms = toMs(sw.corrected.ValueAtPercentile(99))
			w.CorrectedMaxMs = toMs(sw.corrected.Max())
			w.UncorrectedP99Ms = toMs(sw.uncorrected.ValueAtPercentile(99))
		}
		out = append(out, w)
	}
	for len(out) > 0 && out[len(out)-1].Scheduled == 0 && out[len(out)-1].Completed == 0 {
		out = out[:len(out)-1]
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write report json: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("read report json: %w", err)
	}
	return &r, nil
}

// WriteText writes the human summary of the report.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Mode == Closed {
		think := ""
		if r.ThinkTimeMs > 0 {
			think = fmt.Sprintf(", think %gms", r.ThinkTimeMs)
		}
		fmt.Fprintf(&b, "loadgen: CLOSED LOOP, %d users%s, %gs → %s\n", r.Concurrency, think, r.DurationS, r.Target)
	} else {
		fmt.Fprintf(&b, "loadgen: open loop, %s, %gs, %d workers → %s\n", r.Schedule, r.DurationS, r.Concurrency, r.Target)
	}
	fmt.Fprintf(&b, "  workload     %s (seed %d)\n", r.Workload, r.Seed)
	if r.Mode == Open {
		fmt.Fprintf(&b, "  rate         achieved %.1f/s of target %.1f/s (%.1f%%)\n", r.AchievedRate, r.TargetRate, pct(r.AchievedRate, r.TargetRate))
	} else {
		fmt.Fprintf(&b, "  rate         achieved %.1f/s (no target: closed loop)\n", r.AchievedRate)
	}
	fmt.Fprintf(&b, "  requests     scheduled %d, sent %d, ok %d, failed %d, not sent %d\n", r.Scheduled, r.Sent, r.OK, r.Failed, r.NotSent)
	fmt.Fprintf(&b, "  late sends   %d (%.2f%%) more than %gms behind schedule; send lag p50 %s p99 %s max %s\n",
		r.Late, pct(float64(r.Late), float64(r.Sent)), r.LateAfterMs, fmtMs(r.SendLag.P50Ms), fmtMs(r.SendLag.P99Ms), fmtMs(r.SendLag.MaxMs))
	fmt.Fprintf(&b, "  errors       %.3f%%", 100*r.ErrorRate)
	if len(r.Errors) == 0 {
		b.WriteString(" (none)\n")
	} else {
		b.WriteString("\n")
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			fmt.Fprintf(&b, "    %-44s %d\n", k, r.Errors[k])
		}
	}
	fmt.Fprintf(&b, "  latency      %9s %9s %9s %9s %9s %9s\n", "p50", "p90", "p99", "p99.9", "max", "mean")
	row := func(name string, l Latency, note string) {
		fmt.Fprintf(&b, "  %-12s %9s %9s %9s %9s %9s %9s  %s\n", name,
			fmtMs(l.P50Ms), fmtMs(l.P90Ms), fmtMs(l.P99Ms), fmtMs(l.P999Ms), fmtMs(l.MaxMs), fmtMs(l.MeanMs), note)
	}
	if r.Mode == Open {
		row("corrected", r.Corrected, "from intended send time")
		row("uncorrected", r.Uncorrected, "from actual send time (hides generator queueing)")
	} else {
		row("uncorrected", r.Uncorrected, "closed loop: uncorrected by construction")
	}
	if w, ok := r.worstWindow(); ok {
		fmt.Fprintf(&b, "  over time    worst %gs window starts at %.1fs: p99 %s (uncorrected %s); the full series is in --json and --html\n",
			r.WindowS, w.StartS, fmtMs(w.CorrectedP99Ms), fmtMs(w.UncorrectedP99Ms))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, s := range r.SLOs {
		mark := "ok  "
		if !s.OK {
			mark = "MISS"
		}
		fmt.Fprintf(&b, "  SLO %s %-20s actual %s\n", mark, s.SLO, s.Actual)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// worstWindow returns the latency-over-time window with the highest corrected p99.
func (r *Report) worstWindow() (Window, bool) {
	var worst Window
	found := false
	for _, w := range r.Series {
		if w.Scheduled > 0 && (!found || w.CorrectedP99Ms > worst.CorrectedP99Ms) {
			worst, found = w, true
		}
	}
	return worst, found
}

func pct(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * a / b
}

// fmtMs prints a latency with a unit that keeps three significant figures readable.
func fmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 1:
		return fmt.Sprintf("%.2fms", ms)
	default:
		return fmt.Sprintf("%.0fµs", ms*1000)
	}
}
