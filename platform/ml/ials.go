package ml

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// The iALS row solvers: an exact Cholesky solve, or a few warm-started conjugate-gradient
// steps (Takács, Pilászy and Tikk 2011), much cheaper per row at large Factors.
const (
	SolverCholesky = "cholesky"
	SolverCG       = "cg"
)

// IALSConfig configures implicit alternating least squares (Hu, Koren and Volinsky 2008).
type IALSConfig struct {
	// Factors is the embedding width.
	Factors int
	// Iterations is the number of alternations; each solves every user, then every item.
	Iterations int
	// Alpha sets the confidence of an observed pair, 1 + Alpha·r (r the summed labels of
	// its rows); every unobserved pair has confidence 1 and target 0.
	Alpha float64
	// Lambda is the L2 regularisation. With RegExponent ν > 0 a row's regularisation is
	// Lambda·(Σ_j c_j)^ν, its total confidence to the power ν: the frequency-scaled
	// regularisation of Rendle et al., "Revisiting the performance of iALS on item
	// recommendation benchmarks" (2022), where ν = 1 is their choice. ν = 0 is Hu et al.'s
	// constant Lambda.
	Lambda      float64
	RegExponent float64
	// Solver is SolverCholesky or SolverCG; CGSteps is the number of CG steps per row.
	Solver  string
	CGSteps int
	// InitStd is the standard deviation of the initial vectors.
	InitStd float64
	Seed    uint64
	// Workers solves rows in parallel (≤ 0: GOMAXPROCS). Each row's solve depends only on
	// the other side, so the result is the same bits for any number of workers; it is not
	// recorded in artifacts, which are therefore identical too.
	Workers int `json:"-"`
}

// DefaultIALSConfig is tuned on ML-100K-shaped synthetic data (see implicit_test.go):
// 64 factors, 10 alternations, α = 8, frequency-scaled λ = 0.03 (ν = 1), 3 CG steps a row.
func DefaultIALSConfig() IALSConfig {
	return IALSConfig{Factors: 64, Iterations: 10, Alpha: 8, Lambda: 0.03, RegExponent: 1,
		Solver: SolverCG, CGSteps: 3, InitStd: 0.01, Seed: 1}
}

// Validate reports out-of-range settings.
func (c IALSConfig) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Factors <= 0 || c.Factors > 512:
		return configError("ials: Factors = %d, want 1..512", c.Factors)
	case c.Iterations <= 0 || c.Iterations > 10_000:
		return configError("ials: Iterations = %d, want 1..10000", c.Iterations)
	case !(c.Alpha >= 0) || !finite(c.Alpha):
		return configError("ials: Alpha = %v, want finite and ≥ 0", c.Alpha)
	case !(c.Lambda > 0) || !finite(c.Lambda):
		return configError("ials: Lambda = %v, want finite and > 0", c.Lambda)
	case !(c.RegExponent >= 0 && c.RegExponent <= 2):
		return configError("ials: RegExponent = %v, want in [0, 2]", c.RegExponent)
	case c.Solver != SolverCholesky && c.Solver != SolverCG:
		return configError("ials: Solver = %q, want %q or %q", c.Solver, SolverCholesky, SolverCG)
	case c.Solver == SolverCG && (c.CGSteps <= 0 || c.CGSteps > 512):
		return configError("ials: CGSteps = %d, want 1..512", c.CGSteps)
	case !(c.InitStd >= 0) || c.InitStd > 10:
		return configError("ials: InitStd = %v, want in [0, 10]", c.InitStd)
	}
	return nil
}

// TrainIALS fits an MF to implicit feedback by alternating least squares on
// Σ_{u,i} c_ui (p_ui − ⟨x_u, y_i⟩)² + regularisation, over every (user, item) pair, where
// p_ui is 1 for an observed pair and 0 otherwise. d is read as by TrainBPR: rows labelled
// > 0 are observations whose labels add up to r. The model has no biases; its Predict is
// σ(⟨x_u, y_i⟩), a ranking score, not a probability.
func TrainIALS(ctx context.Context, d Dataset, cfg IALSConfig) (*MF, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ix, err := newInteractions(d)
	if err != nil {
		return nil, fmt.Errorf("train ials: %w", err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xa15))
	m := newImplicitMF(d.Schema, MFConfig{Factors: cfg.Factors, Seed: cfg.Seed, Trainer: TrainerIALS, IALS: &cfg}, ix, rng, cfg.InitStd)
	nu, ni := len(ix.users), len(ix.items)
	for it := 0; it < cfg.Iterations; it++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train ials: iteration %d: %w", it, err)
		}
		if err := cfg.solveSide(m.uv, m.iv, ix.uptr, ix.uidx, ix.uw, ni); err != nil {
			return nil, fmt.Errorf("train ials: iteration %d users: %w", it, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train ials: iteration %d: %w", it, err)
		}
		if err := cfg.solveSide(m.iv, m.uv, ix.iptr, ix.iidx, ix.iw, nu); err != nil {
			return nil, fmt.Errorf("train ials: iteration %d items: %w", it, err)
		}
	}
	return m, nil
}

// ialsRowsPerTask is the unit of parallel work: rows solved by one task with one scratch.
const ialsRowsPerTask = 64

// solveSide recomputes every row of dst with the other side, fixed (nFixed rows), held
// constant; row r's observations are idx[ptr[r]:ptr[r+1]] with labels w.
func (c IALSConfig) solveSide(dst, fixed []float64, ptr []int, idx []int32, w []float64, nFixed int) error {
	k := c.Factors
	// The Gramian Σ_j y_j y_jᵀ, lower triangle, summed in row order (one thread, so the
	// bits do not depend on Workers).
	gram := make([]float64, k*k)
	for j := range nFixed {
		y := fixed[j*k : (j+1)*k]
		for a := range k {
			ya, row := y[a], gram[a*k:a*k+a+1]
			for b := range row {
				row[b] += ya * y[b]
			}
		}
	}
	for a := range k {
		for b := 0; b < a; b++ {
			gram[b*k+a] = gram[a*k+b]
		}
	}
	rows := len(ptr) - 1
	tasks := (rows + ialsRowsPerTask - 1) / ialsRowsPerTask
	errs := make([]error, tasks)
	forEach(tasks, c.Workers, func(t int) {
		a, b, p, q := make([]float64, k*k), make([]float64, k), make([]float64, k), make([]float64, k)
		for r := t * ialsRowsPerTask; r < min((t+1)*ialsRowsPerTask, rows); r++ {
			obs, ws := idx[ptr[r]:ptr[r+1]], w[ptr[r]:ptr[r+1]]
			reg := c.Lambda
			if c.RegExponent > 0 {
				mass := float64(nFixed)
				for _, v := range ws {
					mass += c.Alpha * v
				}
				reg *= math.Pow(mass, c.RegExponent)
			}
			x := dst[r*k : (r+1)*k]
			if c.Solver == SolverCG {
				c.cgRow(x, fixed, gram, obs, ws, reg, b, p, q)
				continue
			}
			if err := c.choleskyRow(x, fixed, gram, obs, ws, reg, a, b); err != nil {
				errs[t] = fmt.Errorf("row %d: %w", r, err)
				return
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// choleskyRow solves (G + reg·I + Σ_j (c_j − 1) y_j y_jᵀ) x = Σ_j c_j y_j exactly, using
// a (k×k) and b (k) as scratch.
func (c IALSConfig) choleskyRow(x, fixed, gram []float64, obs []int32, ws []float64, reg float64, a, b []float64) error {
	k := c.Factors
	copy(a, gram)
	clear(b)
	for d := range k {
		a[d*k+d] += reg
	}
	for n, j := range obs {
		y := fixed[int(j)*k : (int(j)+1)*k]
		cj := 1 + c.Alpha*ws[n]
		for d := range k {
			v := (cj - 1) * y[d]
			row := a[d*k : d*k+d+1]
			for e := range row {
				row[e] += v * y[e]
			}
			b[d] += cj * y[d]
		}
	}
	// In-place Cholesky of the lower triangle, A = L·Lᵀ.
	for j := range k {
		s := a[j*k+j] - vdot(a[j*k:j*k+j], a[j*k:j*k+j])
		if !(s > 0) {
			return fmt.Errorf("normal equations not positive definite (pivot %d is %v)", j, s)
		}
		l := math.Sqrt(s)
		a[j*k+j] = l
		for i := j + 1; i < k; i++ {
			a[i*k+j] = (a[i*k+j] - vdot(a[i*k:i*k+j], a[j*k:j*k+j])) / l
		}
	}
	// L·z = b, then Lᵀ·x = z.
	for i := range k {
		b[i] = (b[i] - vdot(a[i*k:i*k+i], b[:i])) / a[i*k+i]
	}
	for i := k - 1; i >= 0; i-- {
		s := b[i]
		for j := i + 1; j < k; j++ {
			s -= a[j*k+i] * x[j]
		}
		x[i] = s / a[i*k+i]
	}
	return nil
}

// cgRow takes CGSteps conjugate-gradient steps on the same system as choleskyRow, from x's
// current value (the previous alternation's answer), never forming the k×k matrix: the
// product with it is G·v + reg·v + Σ_j (c_j − 1)⟨y_j, v⟩ y_j. r, p, ap are scratch.
func (c IALSConfig) cgRow(x, fixed, gram []float64, obs []int32, ws []float64, reg float64, r, p, ap []float64) {
	k := c.Factors
	mul := func(dst, v []float64) {
		for d := range k {
			dst[d] = vdot(gram[d*k:(d+1)*k], v) + reg*v[d]
		}
		for n, j := range obs {
			y := fixed[int(j)*k : (int(j)+1)*k]
			s := c.Alpha * ws[n] * vdot(y, v)
			for d := range k {
				dst[d] += s * y[d]
			}
		}
	}
	// r = b − A·x.
	mul(ap, x)
	for d := range k {
		r[d] = -ap[d]
	}
	for n, j := range obs {
		y := fixed[int(j)*k : (int(j)+1)*k]
		cj := 1 + c.Alpha*ws[n]
		for d := range k {
			r[d] += cj * y[d]
		}
	}
	copy(p, r)
	rr := vdot(r, r)
	for range c.CGSteps {
		if rr < 1e-20 {
			return
		}
		mul(ap, p)
		step := rr / vdot(p, ap)
		for d := range k {
			x[d] += step * p[d]
			r[d] -= step * ap[d]
		}
		next := vdot(r, r)
		for d := range k {
			p[d] = r[d] + next/rr*p[d]
		}
		rr = next
	}
}
