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

// PartialWidth is the length of a partial (see Partial) for m.
func (m *FM) PartialWidth() int { return m.cfg.Factors + 2 }

// Partial appends to dst the terms of a row's trailing fields, starting at schema field
// first: their linear sum, the sum of their squared factor terms and their factor sum
// (Factors values). A caller that scores the same rows against many contexts (an ad
// against every request) computes it once per row and model, and LogitPartial then costs
// one dot product of Factors values: the exact logit, with no hashing and no walk over
// the embedding table per request.
func (m *FM) Partial(first int, values []float64, dst []float64) ([]float64, error) {
	if first < 0 || first+len(values) != m.schema.Len() {
		return dst, fmt.Errorf("%w: partial of %d values from field %d for a schema of %d", ErrShape, len(values), first, m.schema.Len())
	}
	nf := m.cfg.Factors
	n := len(dst)
	dst = append(dst, make([]float64, nf+2)...)
	p := dst[n:]
	for i, v := range values {
		slot, xv := encodeFMValue(m.schema, m.buckets, first+i, v)
		p[0] += m.w[slot] * xv
		for j, w := range m.v[int(slot)*nf : int(slot+1)*nf] {
			vx := w * xv
			p[2+j] += vx
			p[1] += vx * vx
		}
	}
	return dst, nil
}

// LogitPartial returns the logit of the row whose trailing fields' partial is p (from
// Partial, for this scorer's model), given the context set by SetContext. The context
// must cover exactly the fields before the partial's.
func (s *FMScorer) LogitPartial(p []float64) float64 {
	inter := 0.0
	for j, c := range s.sum0 {
		x := c + p[2+j]
		inter += x * x
	}
	return s.z0 + p[0] + 0.5*(inter-s.sq0-p[1])
}
