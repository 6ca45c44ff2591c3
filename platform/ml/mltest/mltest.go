// Package mltest generates labelled datasets from known probability models, so tests and
// scenarios can compare what a model learned with the truth that produced the data.
package mltest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/casebook-ml/casebook/platform/ml"
)

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func names(prefix string, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// Generated is a dataset with the true probability of each label.
type Generated struct {
	ml.Dataset
	// P is the generator's probability that Y[i] = 1: the best any model can predict.
	P []float64
}

// Logistic draws n rows of standard-normal features x and labels y ~ Bernoulli(σ(b + w·x)).
func Logistic(n int, w []float64, b float64, seed uint64) Generated {
	rng := rand.New(rand.NewPCG(seed, 1))
	k := len(w)
	g := Generated{Dataset: ml.Dataset{Schema: ml.FloatSchema(names("x", k)...), X: make([]float64, n*k), Y: make([]float64, n)}, P: make([]float64, n)}
	for i := 0; i < n; i++ {
		z := b
		for j := 0; j < k; j++ {
			v := rng.NormFloat64()
			g.X[i*k+j] = v
			z += w[j] * v
		}
		g.P[i] = sigmoid(z)
		if rng.Float64() < g.P[i] {
			g.Y[i] = 1
		}
	}
	return g
}

// Fraudish draws n rows of k ≥ 6 features (uniform on [−1, 1]) with a non-linear truth: an
// interaction, a threshold and a bump, plus a weak linear part; the remaining features are
// noise. Positives are about 10% of rows.
func Fraudish(n, k int, seed uint64) Generated {
	if k < 6 {
		k = 6
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	g := Generated{Dataset: ml.Dataset{Schema: ml.FloatSchema(names("f", k)...), X: make([]float64, n*k), Y: make([]float64, n)}, P: make([]float64, n)}
	for i := 0; i < n; i++ {
		x := g.X[i*k : (i+1)*k]
		for j := range x {
			x[j] = rng.Float64()*2 - 1
		}
		z := -3.9 + 2.5*x[0]*x[1]
		if x[2] > 0.5 {
			z += 1.5
		}
		z += 2 * math.Exp(-8*x[3]*x[3])
		z += 0.8*x[4] - 0.5*x[5]
		g.P[i] = sigmoid(z)
		if rng.Float64() < g.P[i] {
			g.Y[i] = 1
		}
	}
	return g
}

// Clicks draws n ad impressions with categorical user, ad and site ids and one numeric
// feature; the truth has a user×ad affinity (latent 2-d factors), so a model without
// interactions cannot reach it. Clicks are about 10% of rows. The latent factors are the
// same for every seed (one world); the seed only draws the impressions.
func Clicks(n int, seed uint64) Generated {
	const users, ads, sites = 500, 200, 50
	rng := rand.New(rand.NewPCG(42, 3))
	fu := make([][2]float64, users)
	fa := make([][2]float64, ads)
	for i := range fu {
		fu[i] = [2]float64{rng.NormFloat64(), rng.NormFloat64()}
	}
	for i := range fa {
		fa[i] = [2]float64{rng.NormFloat64(), rng.NormFloat64()}
	}
	siteBias := make([]float64, sites)
	for i := range siteBias {
		siteBias[i] = rng.NormFloat64() * 0.5
	}
	s := ml.Schema{Features: []ml.Feature{
		{Name: "user_id", Type: ml.Categorical}, {Name: "ad_id", Type: ml.Categorical},
		{Name: "site_id", Type: ml.Categorical}, {Name: "position", Type: ml.Float},
	}}
	rng = rand.New(rand.NewPCG(seed, 4))
	g := Generated{Dataset: ml.Dataset{Schema: s, X: make([]float64, n*4), Y: make([]float64, n)}, P: make([]float64, n)}
	for i := 0; i < n; i++ {
		u, a, st := rng.IntN(users), rng.IntN(ads), rng.IntN(sites)
		pos := float64(rng.IntN(5)) / 4
		z := -2.6 + 1.2*(fu[u][0]*fa[a][0]+fu[u][1]*fa[a][1]) + siteBias[st] - 0.8*pos
		copy(g.X[i*4:], []float64{float64(u), float64(a), float64(st), pos})
		g.P[i] = sigmoid(z)
		if rng.Float64() < g.P[i] {
			g.Y[i] = 1
		}
	}
	return g
}
