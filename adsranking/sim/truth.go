package sim

import (
	"math"
	"math/rand/v2"
)

// The fields a bidder observes for one (request, ad) pair, in this order: the request's
// context first (NumContextFields of them), then the ad's. The click model in
// internal/ctr uses the same fields by name; it never sees the truth's parameters.
var FieldNames = []string{
	"geo", "device", "seg1", "seg2", "age", "placement", "hour", "sitecat", // context
	"ad", "campaign", "advertiser", "adcat", "format", // ad
}

// NumContextFields is the number of leading FieldNames that describe the request.
const NumContextFields = 8

// fieldScale is the spread of each field's bias and interaction vectors in the truth:
// interests against ad categories and content against ad categories carry the strongest
// crosses, as they do in display advertising; the ad's own id matters a little.
var fieldScale = []struct{ bias, vec float64 }{
	{0.15, 0.20}, {0.20, 0.30}, {0.10, 0.50}, {0.10, 0.35}, {0.10, 0.20}, {0.30, 0.25}, {0.15, 0.15}, {0.10, 0.40},
	{0.05, 0.05}, {0.15, 0.10}, {0.15, 0.15}, {0.20, 0.50}, {0.15, 0.30},
}

// vecScale sets the overall strength of the interactions (a Bayes-optimal AUC near 0.8,
// what display click models reach).
const vecScale = 1.0

// Truth is the known click model: logit = b0 + Σ field biases + Σ_{f<g} ⟨v_f, v_g⟩ over
// the 13 fields, and P(click | shown in slot j) = Position[j] · σ(logit).
type Truth struct {
	k        int
	b0       float64
	bias     [][]float64 // per field, per value
	vec      [][]float64 // per field, value-major, k per value
	position []float64
	adPart   []part // per ad (index id-1)
	w        *World
}

// part is the precomputed contribution of a group of fields: bias sum, vector sum and
// the sum of squared vectors (for the FM identity).
type part struct {
	b, q float64
	s    []float64
}

// Cardinalities of the fields in w.
func (w *World) Cardinalities() []int {
	return []int{len(Geos), len(Devices), NumSegments, NumSegments, NumAges, len(w.Placements), Hours, NumCategories,
		len(w.Ads) + 1, len(w.Campaigns) + 1, w.cfg.Advertisers + 1, NumCategories, len(Formats)}
}

func newTruth(w *World, rng *rand.Rand) *Truth {
	k := w.cfg.Factors
	t := &Truth{k: k, position: w.cfg.Position, w: w}
	for f, n := range w.Cardinalities() {
		sc := fieldScale[f]
		b := make([]float64, n)
		v := make([]float64, n*k)
		for i := range b {
			b[i] = rng.NormFloat64() * sc.bias
		}
		for i := range v {
			v[i] = rng.NormFloat64() * sc.vec / math.Sqrt(float64(k)) * vecScale
		}
		t.bias, t.vec = append(t.bias, b), append(t.vec, v)
	}
	t.adPart = make([]part, len(w.Ads))
	for i := range w.Ads {
		t.adPart[i] = t.sum(t.AdFields(&w.Ads[i], nil), NumContextFields)
	}
	t.b0 = t.calibrate(rng)
	return t
}

// AdFields appends the ad's field values (ad, campaign, advertiser, adcat, format) to dst.
func (t *Truth) AdFields(a *Ad, dst []int) []int {
	c := t.w.Campaign(a.Campaign)
	return append(dst, int(a.ID), int(c.ID), int(c.Advertiser), c.Category, a.Format)
}

// ContextFields appends the request's field values to dst.
func (w *World) ContextFields(u *User, placement, hour int, dst []int) []int {
	return append(dst, u.Geo, u.Device, u.Segments[0], u.Segments[1], u.Age, placement, hour, w.Placements[placement].Category)
}

// AdFields appends the ad's field values to dst.
func (w *World) AdFields(a *Ad, dst []int) []int { return w.truth.AdFields(a, dst) }

func (t *Truth) sum(values []int, firstField int) part {
	p := part{s: make([]float64, t.k)}
	for i, v := range values {
		f := firstField + i
		p.b += t.bias[f][v]
		for j, x := range t.vec[f][v*t.k : (v+1)*t.k] {
			p.s[j] += x
			p.q += x * x
		}
	}
	return p
}

// calibrate sets b0 so that the mean click probability of a random request and a random
// ad it could be shown, in the top slot, is the configured base CTR.
func (t *Truth) calibrate(rng *rand.Rand) float64 {
	const n = 20000
	zs := make([]float64, n)
	var buf []int
	for i := range zs {
		u := &t.w.Users[rng.IntN(len(t.w.Users))]
		c := t.context(t.w.ContextFields(u, rng.IntN(len(t.w.Placements)), rng.IntN(Hours), buf[:0]))
		zs[i] = t.logitParts(0, c, t.adPart[rng.IntN(len(t.adPart))])
	}
	lo, hi := -15.0, 5.0
	for range 60 {
		mid := (lo + hi) / 2
		m := 0.0
		for _, z := range zs {
			m += sigmoid(z + mid)
		}
		if m/n > t.w.cfg.BaseCTR {
			hi = mid
		} else {
			lo = mid
		}
	}
	return (lo + hi) / 2
}

func (t *Truth) context(values []int) part { return t.sum(values, 0) }

func (t *Truth) logitParts(b0 float64, c, a part) float64 {
	inter := 0.0
	for j := range c.s {
		s := c.s[j] + a.s[j]
		inter += s * s
	}
	return b0 + c.b + a.b + 0.5*(inter-c.q-a.q)
}

// Context is a request's precomputed share of the truth, reused across its candidates.
type Context struct{ p part }

// NewContext precomputes the truth for a request from u on placement at hour.
func (t *Truth) NewContext(u *User, placement, hour int) Context {
	return Context{p: t.context(t.w.ContextFields(u, placement, hour, make([]int, 0, NumContextFields)))}
}

// CTR is the probability that the ad is clicked when its slot is examined.
func (t *Truth) CTR(c Context, ad int64) float64 {
	return sigmoid(t.logitParts(t.b0, c.p, t.adPart[ad-1]))
}

// ClickProb is the probability that the ad is clicked when shown in slot (0 = top).
func (t *Truth) ClickProb(c Context, ad int64, slot int) float64 {
	return t.position[slot] * t.CTR(c, ad)
}

// Position returns the examination probability of each slot.
func (t *Truth) Position() []float64 { return append([]float64(nil), t.position...) }

// UserValue is what a shown ad is worth to the user: the chance of a click that lands on
// a good page (click probability in the top slot × the ad's quality). The bidder's
// user-value term estimates it with its own pCTR.
func (t *Truth) UserValue(c Context, ad *Ad) float64 { return t.CTR(c, ad.ID) * ad.Quality }

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
