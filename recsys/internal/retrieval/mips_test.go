package retrieval_test

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
)

func norm32(x []float32) float64 {
	s := 0.0
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

func cosine32(a, b []float32) float64 {
	var ab float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
	}
	return ab / (norm32(a) * norm32(b))
}

// randomItems draws n item vectors of width k with norms spread over a decade and biases
// of either sign, so Phi is set by a few long items and most sit well inside the sphere.
func randomItems(rng *rand.Rand, n, k int) ([][]float64, []float64) {
	vecs := make([][]float64, n)
	biases := make([]float64, n)
	for i := range vecs {
		scale := math.Exp(rng.Float64()*math.Log(10)) / 4
		vecs[i] = make([]float64, k)
		for j := range vecs[i] {
			vecs[i][j] = rng.NormFloat64() * scale
		}
		biases[i] = rng.NormFloat64()
	}
	return vecs, biases
}

func TestNewAugmenterRefuses(t *testing.T) {
	tests := []struct {
		name   string
		vecs   [][]float64
		biases []float64
	}{
		{"no items", nil, nil},
		{"fewer biases", [][]float64{{1, 2}, {3, 4}}, []float64{0}},
		{"ragged vectors", [][]float64{{1, 2}, {3}}, []float64{0, 0}},
		{"all zero", [][]float64{{0, 0}, {0, 0}}, []float64{0, 0}},
		{"infinite", [][]float64{{math.Inf(1), 0}}, []float64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, err := retrieval.NewAugmenter(tt.vecs, tt.biases); err == nil {
				t.Errorf("NewAugmenter(%v, %v) = %+v, nil; want an error", tt.vecs, tt.biases, a)
			}
		})
	}
}

func TestAugmenterPhi(t *testing.T) {
	// ‖(3, 4, 0)‖ = 5, ‖(1, 0, 12)‖ = sqrt(145): Phi is the largest norm with the bias.
	a, err := retrieval.NewAugmenter([][]float64{{3, 4}, {1, 0}}, []float64{0, 12})
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Sqrt(145); a.Factors != 2 || !(math.Abs(a.Phi-want) <= 1e-12) || a.Dim() != 4 {
		t.Errorf("NewAugmenter = %+v (Dim %d), want Factors 2, Phi %v, Dim 4", a, a.Dim(), want)
	}
}

// Every built item lands on the unit sphere, and for any user the cosine order of the
// augmented vectors is the order of the factorization's score ⟨p, q⟩ + b.
func TestAugmenterPreservesInnerProductOrder(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 7))
		const n, k = 120, 8
		vecs, biases := randomItems(rng, n, k)
		a, err := retrieval.NewAugmenter(vecs, biases)
		if err != nil {
			t.Fatal(err)
		}
		xs := make([][]float32, n)
		for i := range xs {
			var clamped bool
			xs[i], clamped = a.Item(vecs[i], biases[i], nil)
			// The longest item sits on the sphere by construction; every shorter one must
			// pass through unscaled.
			if n := math.Sqrt(sumSq(vecs[i]) + biases[i]*biases[i]); clamped && n < a.Phi*(1-1e-12) {
				t.Errorf("seed %d: Item(%d) of norm %v < Phi %v was clamped", seed, i, n, a.Phi)
			}
			if len(xs[i]) != a.Dim() {
				t.Fatalf("seed %d: Item(%d) has %d components, want %d", seed, i, len(xs[i]), a.Dim())
			}
			if got := norm32(xs[i]); !(math.Abs(got-1) <= 1e-5) {
				t.Errorf("seed %d: ‖Item(%d)‖ = %v, want 1 within 1e-5", seed, i, got)
			}
		}
		for range 5 {
			p := make([]float64, k)
			for j := range p {
				p[j] = rng.NormFloat64() * 2
			}
			y := a.Query(p, nil)
			if len(y) != a.Dim() || y[k] != 1 || y[k+1] != 0 {
				t.Fatalf("Query(%v) = %v, want p then 1, 0", p, y)
			}
			score := make([]float64, n)
			cos := make([]float64, n)
			for i := range n {
				score[i] = biases[i]
				for j := range k {
					score[i] += p[j] * vecs[i][j]
				}
				cos[i] = cosine32(y, xs[i])
				// cos(y, x) = s / (Φ ‖y‖): the identity behind the reduction.
				if want := score[i] / (a.Phi * norm32(y)); !(math.Abs(cos[i]-want) <= 1e-5) {
					t.Errorf("seed %d: cos(query, item %d) = %v, want s/(Φ‖y‖) = %v", seed, i, cos[i], want)
				}
			}
			byScore, byCos := order(score), order(cos)
			if !slices.Equal(byScore, byCos) {
				t.Errorf("seed %d: order by cosine = %v, want the order by ⟨p,q⟩+b %v", seed, byCos, byScore)
			}
		}
	}
}

func order(s []float64) []int {
	idx := make([]int, len(s))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(s[b], s[a]) })
	return idx
}

func TestAugmenterClamps(t *testing.T) {
	a := retrieval.Augmenter{Factors: 2, Phi: 1}
	tests := []struct {
		name        string
		q           []float64
		bias        float64
		want        []float32
		wantClamped bool
	}{
		{"inside", []float64{0.3, 0.4}, 0, []float32{0.3, 0.4, 0, float32(math.Sqrt(0.75))}, false},
		{"on the sphere", []float64{0.6, 0}, 0.8, []float32{0.6, 0, 0.8, 0}, false},
		{"longer than Phi", []float64{3, 4}, 0, []float32{0.6, 0.8, 0, 0}, true},
		{"bias makes it longer", []float64{0, 0}, -2, []float32{0, 0, -1, 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, clamped := a.Item(tt.q, tt.bias, []float32{9, 9, 9, 9, 9, 9})
			if clamped != tt.wantClamped || len(got) != len(tt.want) {
				t.Fatalf("Item(%v, %v) = %v, %v; want %v, %v", tt.q, tt.bias, got, clamped, tt.want, tt.wantClamped)
			}
			for i := range got {
				if !(math.Abs(float64(got[i]-tt.want[i])) <= 1e-6) {
					t.Errorf("Item(%v, %v) = %v, %v; want %v, %v", tt.q, tt.bias, got, clamped, tt.want, tt.wantClamped)
					break
				}
			}
			if n := norm32(got); !(math.Abs(n-1) <= 1e-5) {
				t.Errorf("‖Item(%v, %v)‖ = %v, want 1", tt.q, tt.bias, n)
			}
		})
	}
}
