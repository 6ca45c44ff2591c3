package loadgen

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Engine drives one Target with one Workload according to a Config.
type Engine struct {
	cfg      Config
	target   Target
	workload Workload
	progress io.Writer
}

// New returns an Engine, or an error wrapping ErrInvalidConfig before anything is sent.
// progress receives a status line every Config.ProgressEvery while the run lasts; nil
// silences it.
func New(cfg Config, target Target, workload Workload, progress io.Writer) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if target == nil {
		return nil, fmt.Errorf("%w: no target", ErrInvalidConfig)
	}
	if workload == nil {
		return nil, fmt.Errorf("%w: no workload", ErrInvalidConfig)
	}
	return &Engine{cfg: cfg, target: target, workload: workload, progress: progress}, nil
}

// abandonGrace is how long past its timeout the engine waits for a request before giving
// up on it, so a Target that ignores its context cannot keep a run alive.
const abandonGrace = 2 * time.Second

// job is one scheduled request on its way from the pacer to a worker.
type job struct {
	intended time.Duration // offset from the start of the run
	req      Request
	// wait, when set, waits for a request the pacer already started (Starter), at sent.
	wait func(context.Context) error
	sent time.Duration
}

// run is the state one Run shares between the pacer, the workers and the progress line.
type run struct {
	cfg    Config
	start  time.Time
	series *series
	recs   []*recorder

	sent      atomic.Int64
	completed atomic.Int64
	failed    atomic.Int64
	late      atomic.Int64
}

func (st *run) now() time.Duration { return time.Since(st.start) }

// pacing is what the pacer (or, in closed loop, the users) did.
type pacing struct {
	dispatched  int64
	notSent     int64
	sendWindow  time.Duration
	interrupted bool
}

// Run sends load until the duration or the request cap is reached, waits for the requests
// in flight (each bounded by Config.Timeout), and returns the report. If ctx is cancelled,
// Run stops early and returns the partial report with an error wrapping ctx's.
func (e *Engine) Run(ctx context.Context) (*Report, error) {
	cfg := e.cfg
	st := &run{
		cfg:    cfg,
		series: newSeries(cfg.window(), cfg.Duration, cfg.Timeout+abandonGrace),
		recs:   make([]*recorder, min(cfg.concurrency(), recorderShards())),
	}
	for i := range st.recs {
		st.recs[i] = newRecorder(cfg.LateAfter, st.series)
	}
	reqCtx, cancelReqs := context.WithCancel(ctx)
	defer cancelReqs()

	st.start = time.Now()
	sendCtx, stopSending := context.WithDeadline(ctx, st.start.Add(cfg.Duration))
	defer stopSending()

	stopProgress := e.startProgress(st)
	var workers sync.WaitGroup
	var p pacing
	if cfg.Mode == Closed {
		p = e.runClosed(sendCtx, reqCtx, st, &workers)
	} else {
		jobs := make(chan job)
		var free chan struct{}
		if _, ok := e.target.(Starter); ok {
			// A token per idle worker: the pacer takes one before it starts a request,
			// so a started request never waits for a worker.
			free = make(chan struct{}, cfg.concurrency())
			for range cfg.concurrency() {
				free <- struct{}{}
			}
		}
		for i := range cfg.concurrency() {
			rec := st.recs[i%len(st.recs)]
			workers.Go(func() { e.worker(reqCtx, st, rec, jobs, free) })
		}
		p = e.pace(sendCtx, st, jobs, free)
		close(jobs)
	}
	p.interrupted = ctx.Err() != nil && p.sendWindow < cfg.Duration

	// Drain: every request in flight ends within its timeout, unless the Target ignores
	// its context; then stop waiting and count what is left as abandoned.
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	var abandoned int64
	select {
	case <-drained:
	case <-time.After(cfg.Timeout + abandonGrace):
		cancelReqs()
		select {
		case <-drained:
		case <-time.After(100 * time.Millisecond):
			abandoned = st.sent.Load() - st.completed.Load()
		}
	}
	stopProgress()
	rep := e.report(st, p, abandoned, st.now())
	if p.interrupted {
		return rep, fmt.Errorf("run interrupted after %.1fs: %w", p.sendWindow.Seconds(), context.Cause(ctx))
	}
	return rep, nil
}

// pace releases requests at their intended times. Intended times come from the schedule
// alone; when no worker is free the pacer blocks, so later requests queue behind it and are
// sent late, and their corrected latency includes the wait.
//
// With a Starter target (free is set) the pacer waits for an idle worker's token, starts
// the request itself, in schedule order, and hands the worker only the wait.
func (e *Engine) pace(ctx context.Context, st *run, jobs chan<- job, free chan struct{}) pacing {
	starter, _ := e.target.(Starter)
	cfg := st.cfg
	arrivals := cfg.Schedule.Arrivals(cfg.Duration, cfg.Seed)
	rng := workloadRand(cfg.Seed)
	sl := newPacerSleeper()
	defer sl.close()
	var p pacing
	lastWake := -cfg.Tick
	for p.dispatched < cfg.MaxRequests {
		at, ok := arrivals.Next()
		if !ok {
			break
		}
		req := e.workload.Next(rng)
		due := true
		if now := st.now(); at > now {
			// Not due yet: sleep, at most once per tick (Config.Tick).
			due = sl.sleepUntil(ctx, st.now, max(at, lastWake+cfg.Tick))
			lastWake = st.now()
		}
		if due && e.dispatch(ctx, st, jobs, free, starter, job{intended: at, req: req}) {
			p.dispatched++
			continue
		}
		// The send window closed with this request still waiting for a worker: count it and
		// everything else the schedule still held. (If the run was interrupted instead, the
		// rest of the schedule was never due and is not counted.)
		if st.now() >= cfg.Duration {
			p.notSent = 1
			for p.dispatched+p.notSent < cfg.MaxRequests {
				if _, ok := arrivals.Next(); !ok {
					break
				}
				p.notSent++
			}
		}
		break
	}
	p.sendWindow = min(st.now(), cfg.Duration)
	return p
}

// dispatch hands j to a worker, waiting for one while ctx lasts; false means the send
// window closed first. With a Starter target it waits for an idle worker's token and
// starts the request here, so requests leave in schedule order.
func (e *Engine) dispatch(ctx context.Context, st *run, jobs chan<- job, free chan struct{}, starter Starter, j job) bool {
	if free == nil {
		select {
		case jobs <- j:
			return true
		default:
		}
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
	select {
	case <-free:
	default:
		select {
		case <-free:
		case <-ctx.Done():
			return false
		}
	}
	j.sent = st.now()
	if w, ok := starter.Start(j.req); ok {
		j.wait = w
	}
	jobs <- j // a worker is idle: its token was free
	return true
}

// recorderShards is how many recorders the workers share. One per worker would make
// thousands of HDR histograms, merged window by window, when thousands of workers wait on
// a slow system (await mode): profiling showed the merges taking a sixth of a core at
// 20,000 requests/s with 2,000 workers. A few per core keep the lock uncontended.
func recorderShards() int { return 4 * runtime.GOMAXPROCS(0) }

func workloadRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0xda3e39cb94b95bdb))
}

// worker sends the jobs it is handed, one at a time.
func (e *Engine) worker(ctx context.Context, st *run, rec *recorder, jobs <-chan job, free chan<- struct{}) {
	for j := range jobs {
		e.send(ctx, st, rec, j)
		if free != nil {
			free <- struct{}{}
		}
	}
}

// send performs one request, or waits for one the pacer started, and records it.
func (e *Engine) send(ctx context.Context, st *run, rec *recorder, j job) {
	intended, req := j.intended, j.req
	sent := st.now()
	if j.wait != nil {
		sent = j.sent
	}
	st.sent.Add(1)
	if sent-intended > st.cfg.LateAfter {
		st.late.Add(1)
	}
	rctx, cancel := context.WithTimeout(ctx, st.cfg.Timeout)
	var err error
	if j.wait != nil {
		err = j.wait(rctx)
	} else {
		err = e.target.Do(rctx, req)
	}
	cancel()
	done := st.now()
	rec.record(intended, sent, done, err)
	if err != nil {
		st.failed.Add(1)
	}
	st.completed.Add(1)
}

// runClosed runs the closed-loop users until the send window closes or the request cap is
// reached. A feeder goroutine owns the workload, which is not safe for concurrent use.
func (e *Engine) runClosed(sendCtx, reqCtx context.Context, st *run, users *sync.WaitGroup) pacing {
	cfg := st.cfg
	feed := make(chan Request, 2*cfg.Users)
	feedCtx, stopFeed := context.WithCancel(sendCtx)
	defer stopFeed()
	var feeder sync.WaitGroup
	feeder.Go(func() {
		rng := workloadRand(cfg.Seed)
		for {
			r := e.workload.Next(rng)
			select {
			case feed <- r:
			case <-feedCtx.Done():
				return
			}
		}
	})
	var budget atomic.Int64
	budget.Store(cfg.MaxRequests)
	for i := range cfg.concurrency() {
		rec := st.recs[i%len(st.recs)]
		users.Go(func() {
			for sendCtx.Err() == nil && budget.Add(-1) >= 0 {
				var req Request
				select {
				case req = <-feed:
				case <-sendCtx.Done():
					return
				}
				// In a closed loop the user sends the moment it is ready: there is no
				// schedule to fall behind, so intended and actual send time are the same.
				now := st.now()
				e.send(reqCtx, st, rec, job{intended: now, req: req})
				if cfg.ThinkTime > 0 {
					t := time.NewTimer(cfg.ThinkTime)
					select {
					case <-t.C:
					case <-sendCtx.Done():
						t.Stop()
						return
					}
				}
			}
		})
	}
	// The send window ends at the deadline, or earlier once every user has stopped
	// because the request budget ran out. Requests still in flight are left to Run's drain.
	stopped := make(chan struct{})
	go func() { users.Wait(); close(stopped) }()
	select {
	case <-sendCtx.Done():
	case <-stopped:
	}
	p := pacing{sendWindow: min(st.now(), cfg.Duration)}
	stopFeed()
	feeder.Wait()
	return p
}
