package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
)

// Server serves registry models. Build it with New, mount Handler, stop it with Close.
type Server struct {
	cfg   Config
	log   *slog.Logger
	reg   *registry.Registry
	sched *scheduler
	met   *metrics
	auth  atomic.Pointer[authenticator] // swapped whole by a key reload
	plog  *predictionLog

	mu      sync.RWMutex
	entries map[string]*entry

	ready atomic.Bool
}

// entry is one served model: its variants, its last known good version and its breaker.
type entry struct {
	cfg      ModelConfig
	primary  atomic.Pointer[deployed]
	canary   atomic.Pointer[deployed]
	shadow   atomic.Pointer[deployed]
	lastGood atomic.Pointer[deployed]
	breaker  *breaker
	chain    []Fallback
	shadowSt shadowStats
	// followers follow the entry's aliases (one per role), guarded by followMu (Status
	// may read them while a model added through the repository API is still starting);
	// stopFollow ends them.
	followMu   sync.Mutex
	followers  []*registry.ArtifactFollower[*deployed]
	stopFollow context.CancelFunc
}

// deployed is a loaded version; host is nil for a last known good version kept only for
// inline fallback scoring.
type deployed struct {
	version registry.Version
	model   ml.Model
	host    *host
}

// New loads every configured model from reg by alias and starts following the aliases.
// A model whose alias cannot be loaded yet is served as not ready (its fallback chain
// still answers) and is loaded when the alias appears. A version trained on another
// feature service than ModelConfig.FeatureService is refused like a corrupt artifact.
func New(ctx context.Context, reg *registry.Registry, cfg Config) (*Server, error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: a registry is required", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	slots := cfg.Slots
	if slots == 0 {
		slots = runtime.GOMAXPROCS(0)
	}
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log.With("component", "serving"), reg: reg, sched: newScheduler(slots, cfg.DisablePriority),
		met: met, entries: map[string]*entry{}}
	s.auth.Store(newAuthenticator(cfg.Keys))
	if cfg.PredictionLog != nil {
		s.plog = newPredictionLog(cfg.PredictionLog, s.log, met)
	}
	for _, mc := range cfg.Models {
		if err := s.add(ctx, mc); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.ready.Store(true)
	return s, nil
}

func (s *Server) add(ctx context.Context, mc ModelConfig) error {
	e := &entry{cfg: mc}
	e.breaker = newBreaker(mc.BreakerFailures, mc.BreakerCooldown, func(st string) {
		s.met.breakerState.WithLabelValues(mc.Name).Set(map[string]float64{breakerClosed: 0, breakerHalfOpen: 1, breakerOpen: 2}[st])
		s.met.breakerChanges.WithLabelValues(mc.Name, st).Inc()
		s.log.Warn("breaker", "model", mc.Name, "state", st)
	})
	e.chain = append([]Fallback{lastGood{e}}, mc.Fallbacks...)
	if len(mc.Fallbacks) == 0 {
		e.chain = append(e.chain, Default{})
	}
	s.mu.Lock()
	if _, dup := s.entries[mc.Name]; dup {
		s.mu.Unlock()
		return fmt.Errorf("%w: model %q already served", ErrInvalidConfig, mc.Name)
	}
	s.entries[mc.Name] = e
	s.mu.Unlock()
	s.met.breakerState.WithLabelValues(mc.Name).Set(0)
	// The followers outlive the call that added the model (a request, or New's context):
	// they stop when the entry does (Close, or an unload through the repository API).
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stopFollow = cancel
	if err := s.follow(fctx, e); err != nil {
		s.mu.Lock()
		delete(s.entries, mc.Name)
		s.mu.Unlock()
		e.stop()
		return err
	}
	if p := e.primary.Load(); p != nil {
		s.loadLastGood(ctx, e, p.version.Number)
	}
	return nil
}

// loadLastGood finds, in the registry's audit log, the version the primary alias pointed
// to before it moved to current, and keeps it loaded for the fallback chain: a server
// that starts after a rollout still has the previous version to fall back to.
func (s *Server) loadLastGood(ctx context.Context, e *entry, current int) {
	entries, err := s.reg.Audit(ctx, e.cfg.Name)
	if err != nil {
		return
	}
	for i := len(entries) - 1; i >= 0; i-- {
		a := entries[i]
		if !a.MovesAlias() || a.Alias != e.cfg.Alias || a.To != current || a.From == 0 || a.From == current {
			continue
		}
		m, v, err := s.reg.Load(ctx, e.cfg.Name, strconv.Itoa(a.From))
		if err != nil {
			s.log.Warn("last known good version not loadable", "model", e.cfg.Name, "version", a.From, "err", err)
			return
		}
		if e.cfg.Wrap != nil {
			m = e.cfg.Wrap(m)
		}
		e.lastGood.CompareAndSwap(nil, &deployed{version: v, model: m})
		return
	}
}

// Close stops following aliases and drains every model's queue.
func (s *Server) Close() {
	s.ready.Store(false)
	s.mu.Lock()
	entries := s.entries
	s.entries = map[string]*entry{}
	s.mu.Unlock()
	for _, e := range entries {
		e.stop()
	}
	if s.plog != nil {
		s.plog.close()
	}
}

// stop ends the entry's followers, waits until none can swap a version in any more, and
// stops every host.
func (e *entry) stop() {
	if e.stopFollow != nil {
		e.stopFollow()
	}
	e.followMu.Lock()
	fs := e.followers
	e.followMu.Unlock()
	for _, f := range fs {
		<-f.Done()
	}
	e.stopAll()
}

func (e *entry) stopAll() {
	for _, p := range []*atomic.Pointer[deployed]{&e.primary, &e.canary, &e.shadow} {
		if d := p.Swap(nil); d != nil && d.host != nil {
			d.host.stop()
		}
	}
}

func (s *Server) entry(name string) (*entry, error) {
	s.mu.RLock()
	e := s.entries[name]
	s.mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("%w: %q", ErrModelNotFound, name)
	}
	return e, nil
}

// Models lists the served model names, sorted.
func (s *Server) Models() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.entries))
	for n := range s.entries {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ModelStatus is what a model is serving right now; 0 means none.
type ModelStatus struct {
	Primary, Canary, Shadow, LastGood int
	Breaker                           string
	Queued                            int
	// Refused says why the latest move of an alias the model follows was not applied
	// ("" when every alias is served at its latest position).
	Refused string
}

// Status reports a served model's versions and breaker state.
func (s *Server) Status(name string) (ModelStatus, error) {
	e, err := s.entry(name)
	if err != nil {
		return ModelStatus{}, err
	}
	num := func(d *deployed) int {
		if d == nil {
			return 0
		}
		return d.version.Number
	}
	st := ModelStatus{Primary: num(e.primary.Load()), Canary: num(e.canary.Load()), Shadow: num(e.shadow.Load()),
		LastGood: num(e.lastGood.Load()), Breaker: e.breaker.current()}
	if d := e.primary.Load(); d != nil {
		st.Queued = int(d.host.pending.Load())
	}
	e.followMu.Lock()
	fs := e.followers
	e.followMu.Unlock()
	for _, f := range fs {
		if err := f.Err(); err != nil {
			st.Refused = err.Error()
			break
		}
	}
	return st, nil
}

// InjectFault sets (or, with nil, clears) a fault on the model's primary version.
func (s *Server) InjectFault(name string, f *Fault) error {
	e, err := s.entry(name)
	if err != nil {
		return err
	}
	d := e.primary.Load()
	if d == nil {
		return fmt.Errorf("%w: %q", ErrNotReady, name)
	}
	d.host.fault.Store(f)
	return nil
}

// Request is one inference call, already decoded.
type Request struct {
	Model string
	// Version pins a served version (primary, canary or shadow); 0 routes normally.
	Version int
	Decoded
	// Deadline bounds the whole call; zero means now + the model's SLA.
	Deadline time.Time
}

// Result is the answer and who gave it.
type Result struct {
	Scores []float64
	// Version is the model version that answered (0 for a heuristic or default).
	Version int
	// Variant is "champion" or "canary": which rollout arm the request was routed to.
	Variant string
	// Path is primary, last-good, heuristic or default.
	Path string
	// Reason says why the fallback chain answered (Reason*); empty when Path is primary.
	Reason string
}

// Infer answers one request: route, admit, queue, batch, predict, and on failure walk
// the fallback chain. Only admission refusals and bad requests are errors in normal
// operation; ErrUnavailable means every path failed.
//
// Every answer, whichever path gave it and whoever called (the HTTP handler or an
// in-process caller such as a stream scorer), is counted in the request and score
// metrics and, when a prediction log is configured, logged with req.ID (a generated id
// when empty) so that outcomes can be joined to it.
func (s *Server) Infer(ctx context.Context, req Request) (Result, error) {
	e, err := s.entry(req.Model)
	if err != nil {
		return Result{}, err
	}
	if s.plog != nil {
		req.ID = s.plog.requestID(req.ID)
	}
	res, err := s.answer(ctx, e, req)
	if err != nil {
		return res, err
	}
	ver := strconv.Itoa(res.Version)
	s.met.requests.WithLabelValues(e.cfg.Name, res.Variant, ver, res.Path).Inc()
	scoreHist := s.met.scores.WithLabelValues(e.cfg.Name, ver, res.Path)
	for _, sc := range res.Scores {
		scoreHist.Observe(sc)
	}
	if s.plog != nil {
		s.plog.answer(e.cfg.Name, req, e.schemaNames(), res)
	}
	return res, nil
}

// schemaNames is the feature names of the schema requests are checked against.
func (e *entry) schemaNames() []string {
	if d := e.primary.Load(); d != nil {
		return d.host.schema.Names()
	}
	if lg := e.lastGood.Load(); lg != nil {
		return lg.model.Schema().Names()
	}
	return nil
}

func (s *Server) answer(ctx context.Context, e *entry, req Request) (Result, error) {
	now := time.Now()
	deadline := req.Deadline
	if deadline.IsZero() {
		deadline = now.Add(e.cfg.SLA)
	}
	d, variant, err := e.route(req)
	if err != nil {
		return Result{}, err
	}
	if d == nil {
		return s.fallback(ctx, e, req, variant, ErrNotReady)
	}
	if len(req.X) != req.Rows*d.host.k {
		return Result{}, badRequest("%d values for %d rows of %d features", len(req.X), req.Rows, d.host.k)
	}
	allowed, probe := e.breaker.allow(now)
	if !allowed {
		return s.fallback(ctx, e, req, variant, ErrBreakerOpen)
	}
	// One context for the primary attempt, ending FallbackReserve before the deadline; the
	// fallbacks after it are inline and bounded by their own cost.
	pctx, pcancel := context.WithDeadline(ctx, deadline.Add(-e.cfg.FallbackReserve))
	defer pcancel()
	if !s.cfg.DisableAdmission {
		if aerr := d.host.admit(time.Until(deadline.Add(-e.cfg.FallbackReserve)), now); aerr != nil {
			if probe {
				e.breaker.record(true, true, now) // a refused probe says nothing about the model
			}
			var oe *OverloadError
			errors.As(aerr, &oe)
			s.met.refused.WithLabelValues(e.cfg.Name, prioLabel(e.cfg.Priority), oe.Reason).Inc()
			if e.cfg.ShedToFallback {
				return s.fallback(ctx, e, req, variant, aerr, PathLastGood)
			}
			return Result{}, aerr
		}
	}
	scores, ver, enq, err := s.primary(pctx, e, d, variant, req)
	if err == nil {
		e.breaker.record(true, probe, time.Now())
		if sh := e.shadow.Load(); sh != nil && req.Version == 0 {
			s.mirror(e, sh, req, scores)
		}
		return Result{Scores: scores, Version: ver, Variant: variant, Path: PathPrimary}, nil
	}
	if errors.Is(err, ErrBadRequest) {
		return Result{}, err
	}
	if errors.Is(err, ErrDeadline) && d.host.lateFromLoad(enq) {
		// Late because of load, not a broken model: the breaker must not open (that would
		// bypass admission control), and running last-good inline would only add load.
		e.breaker.abandon(probe)
		return s.fallback(ctx, e, req, variant, err, skipLastGood)
	}
	e.breaker.record(false, probe, time.Now())
	return s.fallback(ctx, e, req, variant, err)
}

// skipLastGood starts the fallback chain after the last known good version.
const skipLastGood = "after-last-good"

// primary submits the request to the chosen version's host and waits for its answer. If
// the host was swapped out between routing and submitting, it retries on the new one.
func (s *Server) primary(ctx context.Context, e *entry, d *deployed, variant string, req Request) ([]float64, int, time.Time, error) {
	c := &call{ctx: ctx, x: req.X, rows: req.Rows, done: make(chan struct{})}
	for try := 0; ; try++ {
		err := d.host.submit(c)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrHostStopped) || try >= 3 {
			return nil, 0, c.enqueued, err
		}
		nd, _, rerr := e.route(req)
		if rerr != nil || nd == nil {
			return nil, 0, c.enqueued, err
		}
		d = nd
	}
	select {
	case <-c.done:
		if c.err != nil {
			if errors.Is(c.err, ml.ErrNonFinite) || errors.Is(c.err, ml.ErrSchemaMismatch) || errors.Is(c.err, ml.ErrShape) {
				return nil, 0, c.enqueued, fmt.Errorf("%w: %v", ErrBadRequest, c.err)
			}
			return nil, 0, c.enqueued, c.err
		}
		return c.out, d.version.Number, c.enqueued, nil
	case <-ctx.Done():
		return nil, 0, c.enqueued, fmt.Errorf("%w: primary %s v%d did not answer in time", ErrDeadline, e.cfg.Name, d.version.Number)
	}
}

// fallback walks the chain after the primary path failed with cause. from skips the
// chain's elements before the named path.
func (s *Server) fallback(ctx context.Context, e *entry, req Request, variant string, cause error, from ...string) (Result, error) {
	out := make([]float64, req.Rows)
	var schema ml.Schema
	if d := e.primary.Load(); d != nil {
		schema = d.host.schema
	} else if lg := e.lastGood.Load(); lg != nil {
		schema = lg.model.Schema()
	} else {
		return Result{}, fmt.Errorf("%w: %s has no schema loaded: %v", ErrUnavailable, e.cfg.Name, cause)
	}
	b := ml.Batch{Schema: schema, X: req.X}
	skipping := len(from) > 0 && from[0] != skipLastGood
	for _, f := range e.chain {
		if skipping && f.Path() != from[0] {
			continue
		}
		skipping = false
		if f.Path() == PathLastGood && (e.lastGood.Load() == nil || (len(from) > 0 && from[0] == skipLastGood)) {
			continue
		}
		if err := f.Score(ctx, b, out); err != nil {
			s.log.Warn("fallback failed", "model", e.cfg.Name, "path", f.Path(), "err", err)
			continue
		}
		ver := 0
		if f.Path() == PathLastGood {
			ver = e.lastGood.Load().version.Number
		}
		reason := fallbackReason(cause)
		s.met.fallbacks.WithLabelValues(e.cfg.Name, f.Path(), reason).Inc()
		s.log.Debug("fallback answered", "model", e.cfg.Name, "path", f.Path(), "reason", reason, "cause", cause)
		return Result{Scores: out, Version: ver, Variant: variant, Path: f.Path(), Reason: reason}, nil
	}
	return Result{}, fmt.Errorf("%w: %s: %v", ErrUnavailable, e.cfg.Name, cause)
}

func prioLabel(p int) string { return fmt.Sprint(p) }
