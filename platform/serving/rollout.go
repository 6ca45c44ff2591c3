package serving

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
)

// Rollout roles: which alias of a model a loaded version answers for.
const (
	rolePrimary = "champion"
	roleCanary  = "canary"
	roleShadow  = "shadow"
)

// route picks the version that answers: the pinned one, or the canary for the share of
// request keys that hash below CanaryPercent, or the primary. The split is a pure function
// of the key, so one user always sees the same arm while the percentage is unchanged.
func (e *entry) route(req Request) (*deployed, string, error) {
	if req.Version != 0 {
		for _, v := range []struct {
			d    *deployed
			role string
		}{{e.primary.Load(), rolePrimary}, {e.canary.Load(), roleCanary}, {e.shadow.Load(), roleShadow}} {
			if v.d != nil && v.d.version.Number == req.Version {
				return v.d, v.role, nil
			}
		}
		return nil, "", fmt.Errorf("%w: %s v%d", ErrVersionNotFound, e.cfg.Name, req.Version)
	}
	if e.cfg.CanaryPercent > 0 && req.Key != "" {
		if c := e.canary.Load(); c != nil && InCanary(req.Key, e.cfg.CanaryPercent) {
			return c, roleCanary, nil
		}
	}
	return e.primary.Load(), rolePrimary, nil
}

// InCanary reports whether key falls in the canary share percent (0..100): FNV-1a of the
// key, in basis points.
func InCanary(key string, percent float64) bool {
	h := fnv.New64a()
	h.Write([]byte(key))
	return float64(h.Sum64()%10000) < percent*100
}

// follow starts one registry.ArtifactFollower per rollout role of e (primary, canary,
// shadow): the registry's follower fetches and verifies each version the alias moves to,
// admits it against the feature service the model is served with, decodes it into a warmed
// host, and keeps the current version on any failure. The server only mirrors the
// follower's result into the entry's atomic slots (the request path reads those, never a
// lock) and counts, logs and audits what was refused.
func (s *Server) follow(ctx context.Context, e *entry) error {
	mc := e.cfg
	for _, v := range []struct{ alias, role string }{{mc.Alias, rolePrimary}, {mc.CanaryAlias, roleCanary}, {mc.ShadowAlias, roleShadow}} {
		if v.alias == "" || (v.role == roleCanary && mc.CanaryPercent == 0) {
			continue
		}
		role := v.role
		f, err := registry.FollowWith(ctx, s.reg, registry.FollowConfig[*deployed]{
			Model: mc.Name, Alias: v.alias, Lazy: true, DropOnRemove: role != rolePrimary,
			Admit:  func(v registry.Version) error { return s.admit(e, v) },
			Decode: func(v registry.Version, data []byte) (*deployed, error) { return s.decode(e, role, v, data) },
			Swapped: func(old *deployed, _ registry.Version, cur *deployed, _ registry.Version) {
				s.swapped(e, role, old, cur)
			},
			Refused: func(kept registry.Version, wanted int, err error) { s.refused(ctx, e, role, kept.Number, wanted, err) },
		})
		if err != nil {
			return fmt.Errorf("serving: follow %s@%s: %w", mc.Name, v.alias, err)
		}
		e.followMu.Lock()
		e.followers = append(e.followers, f)
		e.followMu.Unlock()
		if _, cur := f.Current(); cur.Number == 0 {
			s.log.Warn("alias not loadable yet; serving the fallback chain", "model", mc.Name, "alias", v.alias, "err", f.Err())
		}
	}
	return nil
}

// admit refuses a version trained on another feature service than the one the model is
// served with: it would get inputs it was not trained on, however equal the column names.
func (s *Server) admit(e *entry, v registry.Version) error {
	name, want := e.cfg.FeatureService, e.cfg.FeatureServiceHash
	if name == "" && want == "" {
		return nil
	}
	got := v.ServingSchemaHash()
	trained := v.FeatureService
	if trained == "" {
		trained = "no feature service (schema " + shortSum(got) + ")"
	}
	if s.cfg.Features != nil && name != "" {
		if err := s.cfg.Features.CheckSchema(name, got); err != nil {
			return fmt.Errorf("%w: v%d was trained on %s: %v", ErrFeatureServiceMismatch, v.Number, trained, err)
		}
		return nil
	}
	if got != want {
		return fmt.Errorf("%w: v%d was trained on %s, hash %s; serving provides %s, hash %s",
			ErrFeatureServiceMismatch, v.Number, trained, shortSum(got), name, shortSum(want))
	}
	return nil
}

func shortSum(h string) string {
	if len(h) > 19 {
		return h[:19]
	}
	return h
}

// decode is the blue/green switch's build side: decode the verified artifact, check a
// canary's or shadow's schema against the primary's, start the version's own host and
// warm it. Nothing is served from it until the follower swaps it in.
func (s *Server) decode(e *entry, role string, v registry.Version, data []byte) (*deployed, error) {
	m, err := ml.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	if e.cfg.Wrap != nil {
		m = e.cfg.Wrap(m)
	}
	if role != rolePrimary {
		if p := e.primary.Load(); p != nil && !p.model.Schema().Equal(m.Schema()) {
			return nil, fmt.Errorf("%w: as %s: feature schema differs from the primary's: %s", errSchemaDiffers, role, p.model.Schema().Diff(m.Schema()))
		}
	}
	prio := e.cfg.Priority
	if role == roleShadow {
		prio = shadowPriority
	}
	h := newHost(e.cfg.Name, v.Number, prio, m, e.cfg.Batch, s.sched, s.met.forHost(e.cfg.Name, v.Number))
	if err := h.warm(); err != nil {
		h.stop()
		return nil, fmt.Errorf("%w: %v", errWarmFailed, err)
	}
	return &deployed{version: v, model: m, host: h}, nil
}

var (
	errSchemaDiffers = errors.New("schema differs")
	errWarmFailed    = errors.New("warm-up failed")
)

// swapped mirrors a follower's swap into the entry: requests already queued on the old
// version finish there; the old primary becomes the last known good version. cur is nil
// when a canary or shadow alias was removed.
func (s *Server) swapped(e *entry, role string, old, cur *deployed) {
	slot := e.slot(role)
	slot.Store(cur)
	if cur == nil {
		s.met.swaps.WithLabelValues(e.cfg.Name, role, "removed").Inc()
	} else {
		s.met.swaps.WithLabelValues(e.cfg.Name, role, "swapped").Inc()
	}
	from := 0
	if old != nil {
		from = old.version.Number
		if role == rolePrimary {
			e.lastGood.Store(&deployed{version: old.version, model: old.model})
		}
		go old.host.stop()
	}
	to := 0
	if cur != nil {
		to = cur.version.Number
	}
	s.log.Info("deployed", "model", e.cfg.Name, "role", role, "from", from, "to", to)
}

// refused counts, logs and audits a version the follower would not serve; it keeps
// serving kept (0: nothing yet).
func (s *Server) refused(ctx context.Context, e *entry, role string, kept, wanted int, err error) {
	if wanted == 0 {
		s.log.Error("alias removed; keeping what is served", "model", e.cfg.Name, "role", role, "serving", kept)
		return
	}
	outcome, reason := "load-failed", "artifact"
	switch {
	case errors.Is(err, ErrFeatureServiceMismatch):
		outcome, reason = "feature-service-mismatch", "feature-service"
	case errors.Is(err, errSchemaDiffers):
		outcome, reason = "schema-mismatch", "schema"
	case errors.Is(err, errWarmFailed):
		outcome, reason = "warm-failed", "warm-up"
	}
	s.met.swaps.WithLabelValues(e.cfg.Name, role, outcome).Inc()
	s.met.modelRefused.WithLabelValues(e.cfg.Name, reason).Inc()
	s.log.Error("version refused; still serving the previous one", "model", e.cfg.Name, "role", role, "serving", kept, "refused", wanted, "reason", reason, "err", err)
	alias := e.cfg.Alias
	switch role {
	case roleCanary:
		alias = e.cfg.CanaryAlias
	case roleShadow:
		alias = e.cfg.ShadowAlias
	}
	if _, aerr := s.reg.RecordRefusal(ctx, e.cfg.Name, alias, kept, wanted, auditActor, err.Error()); aerr != nil {
		s.log.Error("refusal not audited", "model", e.cfg.Name, "refused", wanted, "err", aerr)
	}
}

// auditActor is who serving's audit entries name.
const auditActor = "serving"

func (e *entry) slot(role string) *atomic.Pointer[deployed] {
	switch role {
	case roleCanary:
		return &e.canary
	case roleShadow:
		return &e.shadow
	}
	return &e.primary
}

// shadowStats accumulates the comparison of shadow answers with the primary's.
type shadowStats struct {
	mu                        sync.Mutex
	compared, agreed, dropped int64
	failed                    int64
	sumDiff, maxDiff          float64
	diffs                     [len(diffBuckets) + 1]int64
}

var diffBuckets = [...]float64{0.001, 0.01, 0.05, 0.1, 0.2, 0.5}

// ShadowReport summarizes how a shadow version's answers compare with the primary's.
type ShadowReport struct {
	ShadowVersion int
	// Compared rows; Agreement is the share on the same side of the threshold.
	Compared  int64
	Agreement float64
	// MeanAbsDiff and MaxAbsDiff are over |shadow − primary| score; Buckets counts rows
	// with a difference at most each bound (the last counts the rest).
	MeanAbsDiff, MaxAbsDiff float64
	BucketBounds            []float64
	Buckets                 []int64
	// Dropped mirrors found the shadow's queue full; Failed ones errored or expired.
	Dropped, Failed int64
}

// Shadow reports the shadow comparison for a model so far.
func (s *Server) Shadow(name string) (ShadowReport, error) {
	e, err := s.entry(name)
	if err != nil {
		return ShadowReport{}, err
	}
	st := &e.shadowSt
	st.mu.Lock()
	defer st.mu.Unlock()
	r := ShadowReport{Compared: st.compared, MaxAbsDiff: st.maxDiff, Dropped: st.dropped, Failed: st.failed,
		BucketBounds: diffBuckets[:], Buckets: append([]int64(nil), st.diffs[:]...)}
	if d := e.shadow.Load(); d != nil {
		r.ShadowVersion = d.version.Number
	}
	if st.compared > 0 {
		r.Agreement = float64(st.agreed) / float64(st.compared)
		r.MeanAbsDiff = st.sumDiff / float64(st.compared)
	}
	return r, nil
}

// mirror sends a copy of an answered request to the shadow version without waiting: the
// shadow's host has its own queue and the lowest CPU priority, and a full queue drops the
// copy. The comparison runs on the shadow's worker when it answers.
func (s *Server) mirror(e *entry, sh *deployed, req Request, primary []float64) {
	ctx, cancel := context.WithTimeout(context.Background(), max(e.cfg.SLA*4, 100*time.Millisecond))
	thr := s.cfg.AgreementThreshold
	c := &call{ctx: ctx, x: req.X, rows: req.Rows}
	c.onDone = func(c *call) {
		cancel()
		st := &e.shadowSt
		if c.err != nil {
			s.met.shadow.WithLabelValues(e.cfg.Name, "failed").Inc()
			st.mu.Lock()
			st.failed++
			st.mu.Unlock()
			return
		}
		s.met.shadow.WithLabelValues(e.cfg.Name, "compared").Add(float64(len(c.out)))
		agree := 0
		st.mu.Lock()
		for i, p := range primary {
			d := math.Abs(c.out[i] - p)
			if (c.out[i] >= thr) == (p >= thr) {
				agree++
			}
			st.sumDiff += d
			st.maxDiff = max(st.maxDiff, d)
			b := len(diffBuckets)
			for j, ub := range diffBuckets {
				if d <= ub {
					b = j
					break
				}
			}
			st.diffs[b]++
			s.met.shadowDiff.WithLabelValues(e.cfg.Name).Observe(d)
		}
		st.compared += int64(len(primary))
		st.agreed += int64(agree)
		st.mu.Unlock()
		s.met.shadowAgree.WithLabelValues(e.cfg.Name).Add(float64(agree))
		if s.plog != nil && req.ID != "" {
			s.plog.shadow(e.cfg.Name, req, sh.host.schema.Names(), sh.version.Number, c.out)
		}
	}
	if err := sh.host.submit(c); err != nil {
		cancel()
		s.met.shadow.WithLabelValues(e.cfg.Name, "dropped").Inc()
		e.shadowSt.mu.Lock()
		e.shadowSt.dropped++
		e.shadowSt.mu.Unlock()
	}
}
