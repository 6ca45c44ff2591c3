package serving

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

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

// follow applies alias moves from the registry watch until ctx ends.
func (s *Server) follow(ctx context.Context, events <-chan registry.AliasEvent) {
	for ev := range events {
		s.mu.RLock()
		e := s.entries[ev.Model]
		s.mu.RUnlock()
		if e == nil {
			continue
		}
		for _, role := range e.roles(ev.Alias) {
			if err := s.deploy(ctx, e, role, ev.Version); err != nil {
				s.log.Error("alias move not applied; still serving the previous version", "model", ev.Model, "alias", ev.Alias, "to", ev.Version, "err", err)
			}
		}
	}
}

func (e *entry) roles(alias string) []string {
	var out []string
	if alias == e.cfg.Alias {
		out = append(out, rolePrimary)
	}
	if alias == e.cfg.CanaryAlias && e.cfg.CanaryPercent > 0 {
		out = append(out, roleCanary)
	}
	if alias == e.cfg.ShadowAlias {
		out = append(out, roleShadow)
	}
	return out
}

func (e *entry) slot(role string) *atomic.Pointer[deployed] {
	switch role {
	case roleCanary:
		return &e.canary
	case roleShadow:
		return &e.shadow
	}
	return &e.primary
}

// deploy is the blue/green switch: load version (artifact verified by the registry),
// start its own host, warm it, then swap it in atomically. Requests already queued on the
// old version finish there; the old primary becomes the last known good version. A load
// or warm-up failure leaves the current version serving.
func (s *Server) deploy(ctx context.Context, e *entry, role string, version int) error {
	e.deployMu.Lock()
	defer e.deployMu.Unlock()
	slot := e.slot(role)
	cur := slot.Load()
	if cur != nil && cur.version.Number == version {
		return nil
	}
	if version == 0 {
		if role == rolePrimary {
			return fmt.Errorf("alias %s removed; keeping what is served", e.cfg.Alias)
		}
		if old := slot.Swap(nil); old != nil {
			go old.host.stop()
		}
		s.met.swaps.WithLabelValues(e.cfg.Name, role, "removed").Inc()
		return nil
	}
	m, v, err := s.reg.Load(ctx, e.cfg.Name, strconv.Itoa(version))
	if err != nil {
		s.met.swaps.WithLabelValues(e.cfg.Name, role, "load-failed").Inc()
		return fmt.Errorf("deploy %s v%d as %s: %w", e.cfg.Name, version, role, err)
	}
	if e.cfg.Wrap != nil {
		m = e.cfg.Wrap(m)
	}
	if role != rolePrimary {
		if p := e.primary.Load(); p != nil && !p.model.Schema().Equal(m.Schema()) {
			s.met.swaps.WithLabelValues(e.cfg.Name, role, "schema-mismatch").Inc()
			return fmt.Errorf("deploy %s v%d as %s: feature schema differs from the primary's: %s", e.cfg.Name, version, role, p.model.Schema().Diff(m.Schema()))
		}
	}
	prio := e.cfg.Priority
	if role == roleShadow {
		prio = shadowPriority
	}
	h := newHost(e.cfg.Name, v.Number, prio, m, e.cfg.Batch, s.sched, s.met.forHost(e.cfg.Name, v.Number))
	if err := h.warm(); err != nil {
		h.stop()
		s.met.swaps.WithLabelValues(e.cfg.Name, role, "warm-failed").Inc()
		return err
	}
	old := slot.Swap(&deployed{version: v, model: m, host: h})
	s.met.swaps.WithLabelValues(e.cfg.Name, role, "swapped").Inc()
	from := 0
	if old != nil {
		from = old.version.Number
		if role == rolePrimary {
			e.lastGood.Store(&deployed{version: old.version, model: old.model})
		}
		go old.host.stop()
	}
	s.log.Info("deployed", "model", e.cfg.Name, "role", role, "from", from, "to", v.Number)
	return nil
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
			s.plog.shadow(e.cfg.Name, req.ID, req.RowIDs, sh.host.schema.Names(), req.X, sh.version.Number, c.out, recordTime(req))
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
