package ml

import "fmt"

// FMScorer scores many rows that share their leading fields, such as one ad request's
// context (user, placement, hour) against a thousand candidate ads. Rendle's identity
// splits the logit into a part of the shared fields, summed once per context, and a part
// of each row's own fields, so a row costs only its own fields: exact, not an
// approximation (Logit equals the full model's logit to rounding). A scorer is not safe
// for concurrent use; make one per goroutine.
type FMScorer struct {
	m        *FM
	nctx     int
	z0, sq0  float64
	sum0     []float64
	sum      []float64
	contextd bool
}

// Scorer returns a scorer for m.
func (m *FM) Scorer() *FMScorer {
	return &FMScorer{m: m, sum0: make([]float64, m.cfg.Factors), sum: make([]float64, m.cfg.Factors)}
}

// SetContext fixes the values of the schema's first len(x) features for the rows that
// follow.
func (s *FMScorer) SetContext(x []float64) error {
	m := s.m
	if len(x) > m.schema.Len() {
		return fmt.Errorf("%w: context of %d values for a schema of %d", ErrShape, len(x), m.schema.Len())
	}
	nf := m.cfg.Factors
	clear(s.sum0)
	s.z0, s.sq0, s.nctx = m.w0, 0, len(x)
	for f, v := range x {
		slot, xv := encodeFMValue(m.schema, m.buckets, f, v)
		s.z0 += m.w[slot] * xv
		for j, w := range m.v[int(slot)*nf : int(slot+1)*nf] {
			vx := w * xv
			s.sum0[j] += vx
			s.sq0 += vx * vx
		}
	}
	s.contextd = true
	return nil
}

// Logit returns the logit of the row whose remaining features are rest (the schema's
// features after the context, all of them, in order). It panics if no context is set or
// rest has the wrong length: both are programming errors, fixed once per call site.
func (s *FMScorer) Logit(rest []float64) float64 {
	m := s.m
	if !s.contextd || s.nctx+len(rest) != m.schema.Len() {
		panic(fmt.Sprintf("ml: FMScorer.Logit with %d + %d values for a schema of %d (context set: %v)", s.nctx, len(rest), m.schema.Len(), s.contextd))
	}
	nf := m.cfg.Factors
	copy(s.sum, s.sum0)
	z, sq := s.z0, s.sq0
	for i, v := range rest {
		slot, xv := encodeFMValue(m.schema, m.buckets, s.nctx+i, v)
		z += m.w[slot] * xv
		for j, w := range m.v[int(slot)*nf : int(slot+1)*nf] {
			vx := w * xv
			s.sum[j] += vx
			sq += vx * vx
		}
	}
	inter := 0.0
	for _, x := range s.sum {
		inter += x * x
	}
	return z + 0.5*(inter-sq)
}

// Prob returns the predicted probability of the row (σ of Logit).
func (s *FMScorer) Prob(rest []float64) float64 { return sigmoid(s.Logit(rest)) }

// Config returns the configuration m was trained with.
func (m *FM) Config() FMConfig { return m.cfg }
