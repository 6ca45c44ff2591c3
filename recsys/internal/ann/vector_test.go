package ann

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDotMatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 3, 7, 8, 9, 15, 16, 31, 32, 33, 63, 64, 65, 100, 128, 300} {
		a, b := make([]float32, n), make([]float32, n)
		var want, scale float64
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			want += float64(a[i]) * float64(b[i])
			scale += math.Abs(float64(a[i]) * float64(b[i]))
		}
		tol := 1e-5 * (scale + 1)
		// b longer than a: only len(a) components count.
		long := append(b, 1000, 1000)
		for name, got := range map[string]float32{
			"dot":         dot(a, b),
			"dotGeneric":  dotGeneric(a, b),
			"dot, long b": dot(a, long[:n+2]),
		} {
			if math.Abs(float64(got)-want) > tol {
				t.Errorf("%s over %d components = %v, want %v ± %.2g", name, n, got, want, tol)
			}
		}
	}
}

func TestNormalizeInto(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float32
		want []float32
		ok   bool
	}{
		{"3-4-0", []float32{3, 4, 0}, []float32{0.6, 0.8, 0}, true},
		{"tiny", []float32{1e-30, 0}, []float32{1, 0}, true},
		{"huge", []float32{3e38, 3e38}, []float32{0.70710677, 0.70710677}, true},
		{"zero", []float32{0, 0}, nil, false},
		{"nan", []float32{float32(math.NaN()), 1}, nil, false},
		{"-inf", []float32{float32(math.Inf(-1)), 1}, nil, false},
	} {
		got := make([]float32, len(tc.in))
		err := normalizeInto(got, tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: normalizeInto(%v) = %v, want ok %v", tc.name, tc.in, err, tc.ok)
			continue
		}
		for i := range tc.want {
			if math.Abs(float64(got[i]-tc.want[i])) > 1e-6 {
				t.Errorf("%s: normalizeInto(%v) = %v, want %v", tc.name, tc.in, got, tc.want)
				break
			}
		}
	}
}
