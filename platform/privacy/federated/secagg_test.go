package federated

import (
	"math"
	"math/rand/v2"
	"testing"
)

// parties makes n clients that have agreed pairwise seeds.
func parties(t *testing.T, n int) []*Party {
	t.Helper()
	ps := make([]*Party, n)
	pubs := map[int][]byte{}
	for i := range ps {
		p, err := NewParty(i)
		if err != nil {
			t.Fatal(err)
		}
		ps[i], pubs[i] = p, p.PublicKey()
	}
	for _, p := range ps {
		if err := p.Agree(pubs); err != nil {
			t.Fatal(err)
		}
	}
	return ps
}

func updates(n, dim int) [][]float64 {
	rng := rand.New(rand.NewPCG(7, 7))
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, dim)
		for j := range out[i] {
			out[i][j] = rng.NormFloat64() * 100
		}
	}
	return out
}

func ringSum(vs map[int][]uint64, dim int) []uint64 {
	s := make([]uint64, dim)
	for _, v := range vs {
		for i, x := range v {
			s[i] += x
		}
	}
	return s
}

func TestMasksCancelExactly(t *testing.T) {
	const n, dim = 5, 1000
	ps, us := parties(t, n), updates(n, dim)
	plain, masked := map[int][]uint64{}, map[int][]uint64{}
	for i, p := range ps {
		plain[i] = Encode(us[i])
		masked[i] = p.Mask(3, plain[i])
	}
	got, err := Unmask(3, masked, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := ringSum(plain, dim)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Unmask sum[%d] = %d, want %d (masks do not cancel)", i, got[i], want[i])
		}
	}
}

// What the server holds of one client looks like noise: no value equals the plaintext's and
// the masked values do not correlate with it.
func TestMaskedUpdateHidesPlaintext(t *testing.T) {
	const n, dim = 4, 4000
	ps, us := parties(t, n), updates(n, dim)
	plain := Encode(us[1])
	masked := ps[1].Mask(1, plain)
	var xs, ys []float64
	same := 0
	for i := range plain {
		if masked[i] == plain[i] {
			same++
		}
		xs = append(xs, float64(int64(plain[i])))
		ys = append(ys, float64(int64(masked[i])))
	}
	if same > 0 {
		t.Errorf("%d of %d masked values equal the plaintext", same, dim)
	}
	if r := corr(xs, ys); math.Abs(r) > 0.08 {
		t.Errorf("corr(plaintext, masked) = %.3f, want ≈ 0", r)
	}
	// A different round draws different masks from the same seeds.
	if again := ps[1].Mask(2, plain); again[0] == masked[0] && again[1] == masked[1] {
		t.Error("round 2's mask equals round 1's")
	}
}

func corr(x, y []float64) float64 {
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(len(x))
	my /= float64(len(y))
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Client 2 drops after the seeds were agreed; the survivors reveal their seeds with it and
// the server recovers the survivors' exact sum. Without the reveal the sum is garbage.
func TestDroppedClient(t *testing.T) {
	const n, dim, drop = 5, 200, 2
	ps, us := parties(t, n), updates(n, dim)
	plain, masked := map[int][]uint64{}, map[int][]uint64{}
	revealed := map[int]map[int]Seed{}
	for i, p := range ps {
		if i == drop {
			continue
		}
		plain[i] = Encode(us[i])
		masked[i] = p.Mask(1, plain[i])
		s, err := p.Reveal(drop)
		if err != nil {
			t.Fatal(err)
		}
		revealed[i] = map[int]Seed{drop: s}
	}
	got, err := Unmask(1, masked, []int{drop}, revealed)
	if err != nil {
		t.Fatal(err)
	}
	want := ringSum(plain, dim)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Unmask with a drop: sum[%d] = %d, want %d", i, got[i], want[i])
		}
	}
	dec := Decode(got)
	for j := range dec {
		s := 0.0
		for i := range us {
			if i != drop {
				s += us[i][j]
			}
		}
		if math.Abs(dec[j]-s) > 1e-4 {
			t.Fatalf("decoded sum[%d] = %v, want %v", j, dec[j], s)
		}
	}
	naive, err := Unmask(1, masked, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if naive[0] == want[0] {
		t.Error("without removing the dropped client's masks the sum came out right: masks are not doing anything")
	}
	if _, err := Unmask(1, masked, []int{drop}, map[int]map[int]Seed{}); err == nil {
		t.Error("Unmask without the survivors' seeds succeeded, want an error")
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, v := range []float64{0, 1, -1, 3.25, -1234.5, 1e6} {
		if got := Decode(Encode([]float64{v}))[0]; math.Abs(got-v) > 1.0/Scale {
			t.Errorf("Decode(Encode(%v)) = %v", v, got)
		}
	}
}

func TestAgreeRefusesBadKey(t *testing.T) {
	p, err := NewParty(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Agree(map[int][]byte{1: {1, 2, 3}}); err == nil {
		t.Error("Agree(3-byte key) succeeded, want an error")
	}
}
