package loadgen

import (
	"fmt"
	"time"
)

// Mode says how the engine decides when to send.
type Mode string

const (
	// Open sends on a schedule that does not wait for responses: when the system under test
	// slows down, requests keep arriving, as they do from real users.
	Open Mode = "open"
	// Closed runs N users that each send, wait for the answer, optionally think, and send
	// again. A slow system slows its own load down, so the latency it reports is the latency
	// of the requests it chose to send, uncorrected by construction.
	Closed Mode = "closed"
)

// Limits every run stays within, so a run always stops by itself.
const (
	MaxDuration    = time.Hour
	MaxConcurrency = 2000 // workers or users; each holds ~0.5 MB of histograms
	MaxRequestCap  = 1_000_000_000
	MaxTimeout     = 10 * time.Minute
	maxWindows     = 10_000
	maxTick        = 10 * time.Millisecond
)

// Config describes one run.
type Config struct {
	Mode Mode
	// Schedule is the open-loop plan.
	Schedule Schedule
	// Workers bounds the requests in flight in open-loop mode. A scheduled request that finds
	// every worker busy waits in the generator (the pacer blocks) and is sent as soon as one
	// frees up; the wait counts in its corrected latency and makes it late. Nothing is dropped
	// silently: requests still waiting when the send window closes are reported as not sent.
	Workers int
	// Users is the number of closed-loop users.
	Users int
	// ThinkTime is how long a closed-loop user pauses between a response and its next request.
	ThinkTime time.Duration
	// Duration is the send window. Required; at most MaxDuration.
	Duration time.Duration
	// MaxRequests stops sending after this many requests, whichever comes first.
	MaxRequests int64
	// Timeout bounds each request, from its actual send.
	Timeout time.Duration
	// LateAfter is how far behind its intended time a send may go out before it counts as late.
	LateAfter time.Duration
	// Tick is the open-loop pacer's shortest sleep. Zero (the default) wakes the pacer for
	// every request, at its intended time. A positive tick wakes it at most once per tick
	// and sends every request that has come due since, back to back: a request then leaves
	// up to one tick after its intended time, and its corrected latency includes that wait
	// (nothing is hidden). At tens of thousands of requests per second one wake-up (a timer
	// syscall and a goroutine switch) per request costs the generator a large share of a
	// core, and sending in small bursts lets the client coalesce writes; a tick well under
	// the latency being measured (e.g. 250µs against a 25 ms target) buys that CPU back.
	Tick time.Duration
	// Window is the width of the latency-over-time buckets; zero picks Duration/100, at least
	// 100 ms.
	Window time.Duration
	// ProgressEvery is how often the progress line is printed (when the engine has a
	// progress writer). Zero disables it.
	ProgressEvery time.Duration
	// Seed makes the schedule (Poisson gaps) and the workload's requests reproducible.
	Seed uint64
}

// DefaultConfig returns an open-loop configuration with no schedule yet; a caller must set
// Schedule (or switch to Closed and set Users) and Duration.
func DefaultConfig() Config {
	return Config{
		Mode:          Open,
		Workers:       64,
		Users:         0,
		MaxRequests:   100_000_000,
		Timeout:       10 * time.Second,
		LateAfter:     time.Millisecond,
		ProgressEvery: time.Second,
		Seed:          1,
	}
}

// Validate reports the first thing that would stop the run, wrapped in ErrInvalidConfig (and
// ErrBadSchedule when the schedule is at fault).
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch c.Mode {
	case Open:
		if err := c.Schedule.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if c.Workers < 1 || c.Workers > MaxConcurrency {
			return bad("workers must be in 1..%d, got %d", MaxConcurrency, c.Workers)
		}
	case Closed:
		if c.Users < 1 || c.Users > MaxConcurrency {
			return bad("closed loop needs 1..%d users, got %d", MaxConcurrency, c.Users)
		}
		if c.ThinkTime < 0 {
			return bad("think time must not be negative, got %v", c.ThinkTime)
		}
	default:
		return bad("unknown mode %q (want open or closed)", c.Mode)
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		return bad("duration must be in (0, %v], got %v", MaxDuration, c.Duration)
	}
	if c.MaxRequests < 1 || c.MaxRequests > MaxRequestCap {
		return bad("max requests must be in 1..%d, got %d", MaxRequestCap, c.MaxRequests)
	}
	if c.Timeout <= 0 || c.Timeout > MaxTimeout {
		return bad("request timeout must be in (0, %v], got %v", MaxTimeout, c.Timeout)
	}
	if c.LateAfter <= 0 {
		return bad("late threshold must be positive, got %v", c.LateAfter)
	}
	if c.Tick < 0 || c.Tick > maxTick {
		return bad("pacer tick must be in [0, %v], got %v", maxTick, c.Tick)
	}
	if c.Window < 0 || (c.Window > 0 && c.Duration/c.Window > maxWindows) {
		return bad("window %v would cut %v into more than %d buckets", c.Window, c.Duration, maxWindows)
	}
	if c.ProgressEvery < 0 {
		return bad("progress interval must not be negative, got %v", c.ProgressEvery)
	}
	return nil
}

// window returns the latency-over-time bucket width.
func (c Config) window() time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	w := (c.Duration / 100).Round(time.Millisecond)
	return max(w, 100*time.Millisecond)
}

// concurrency is the number of goroutines sending requests.
func (c Config) concurrency() int {
	if c.Mode == Closed {
		return c.Users
	}
	return c.Workers
}
