package ml

import (
	"fmt"
	"math"
)

// Platt is a calibration map p = σ(A·logit + B) over a model's logit (Platt scaling). The
// identity is A = 1, B = 0.
type Platt struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// Identity reports whether p leaves predictions unchanged.
func (p Platt) Identity() bool { return p.A == 1 && p.B == 0 }

// Prob maps a logit to a calibrated probability.
func (p Platt) Prob(logit float64) float64 { return sigmoid(p.A*logit + p.B) }

// FitPlatt fits A and B by Newton's method on the log loss of rows with labels y (0/1 or
// probabilities), the model's logits and, optionally, exposures as in TrainFMExposed (nil
// is 1 for every row). Fit it on rows the model did not train on.
func FitPlatt(logits, y, exposure []float64) (Platt, error) {
	n := len(logits)
	if n == 0 || len(y) != n || (exposure != nil && len(exposure) != n) {
		return Platt{}, fmt.Errorf("fit platt: %w: %d logits, %d labels, %d exposures", ErrShape, n, len(y), len(exposure))
	}
	p := Platt{A: 1}
	loss := func(c Platt) float64 {
		s := 0.0
		for i, z := range logits {
			q := c.Prob(z)
			if exposure != nil {
				q *= exposure[i]
			}
			q = math.Min(math.Max(q, 1e-15), 1-1e-15)
			s -= y[i]*math.Log(q) + (1-y[i])*math.Log(1-q)
		}
		return s / float64(n)
	}
	cur := loss(p)
	for range 50 {
		// Gradient and Gauss–Newton curvature in (A, B) of the loss through u = A·z + B.
		var ga, gb, haa, hab, hbb float64
		for i, z := range logits {
			q := p.Prob(z)
			r := q - y[i]
			w := q * (1 - q)
			if exposure != nil && exposure[i] < 1 {
				e := exposure[i]
				r = -y[i]*(1-q) + (1-y[i])*e*q*(1-q)/(1-e*q)
			}
			ga += r * z
			gb += r
			haa += w * z * z
			hab += w * z
			hbb += w
		}
		det := haa*hbb - hab*hab
		if !(det > 0) {
			break
		}
		da, db := (hbb*ga-hab*gb)/det, (haa*gb-hab*ga)/det
		// Backtrack until the loss does not rise.
		step, moved := 1.0, false
		for range 20 {
			c := Platt{A: p.A - step*da, B: p.B - step*db}
			if l := loss(c); l <= cur {
				p, cur, moved = c, l, true
				break
			}
			step /= 2
		}
		if !moved || math.Abs(da)+math.Abs(db) < 1e-9 {
			break
		}
	}
	return p, nil
}
