package ml_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
)

// artTree is one tree read back from a GBDT artifact's documented layout, so the reference
// below shares no code with the model's TreeSHAP.
type artTree struct {
	feat, left        []int32
	thr, value, cover []float64
}

func readArtifactTrees(t *testing.T, m *ml.GBDT) (float64, []artTree) {
	t.Helper()
	raw, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Base  float64 `json:"base"`
		Trees []struct {
			Feature, Threshold, Left, Value, Cover string
		} `json:"trees"`
	}
	if err := json.Unmarshal(env.Body, &body); err != nil {
		t.Fatal(err)
	}
	dec := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	i32 := func(s string) []int32 {
		b := dec(s)
		out := make([]int32, len(b)/4)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	}
	f64 := func(s string) []float64 {
		b := dec(s)
		out := make([]float64, len(b)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return out
	}
	var trees []artTree
	for _, tr := range body.Trees {
		trees = append(trees, artTree{feat: i32(tr.Feature), left: i32(tr.Left), thr: f64(tr.Threshold), value: f64(tr.Value), cover: f64(tr.Cover)})
	}
	if len(trees) == 0 || len(trees[0].cover) == 0 {
		t.Fatal("artifact carries no node covers")
	}
	return body.Base, trees
}

// condExp is the path-dependent expectation of a tree given the features in known: follow x
// at a split on a known feature, otherwise average both children by their covers.
func (tr artTree) condExp(n int32, x []float64, known uint) float64 {
	f := tr.feat[n]
	if f < 0 {
		return tr.value[n]
	}
	l, r := tr.left[n], tr.left[n]+1
	if known&(1<<uint(f)) != 0 {
		if x[f] <= tr.thr[n] {
			return tr.condExp(l, x, known)
		}
		return tr.condExp(r, x, known)
	}
	cl, cr := tr.cover[l], tr.cover[r]
	return (cl*tr.condExp(l, x, known) + cr*tr.condExp(r, x, known)) / (cl + cr)
}

// bruteShapley enumerates every subset S of the other features:
// φ_i = Σ_S |S|!(M−|S|−1)!/M! · (v(S∪{i}) − v(S)).
func bruteShapley(base float64, trees []artTree, x []float64) (bias float64, phi []float64) {
	k := len(x)
	v := func(s uint) float64 {
		z := base
		for _, tr := range trees {
			z += tr.condExp(0, x, s)
		}
		return z
	}
	fact := func(n int) float64 {
		f := 1.0
		for i := 2; i <= n; i++ {
			f *= float64(i)
		}
		return f
	}
	phi = make([]float64, k)
	for i := range k {
		for s := uint(0); s < 1<<uint(k); s++ {
			if s&(1<<uint(i)) != 0 {
				continue
			}
			size := 0
			for j := range k {
				if s&(1<<uint(j)) != 0 {
					size++
				}
			}
			w := fact(size) * fact(k-size-1) / fact(k)
			phi[i] += w * (v(s|1<<uint(i)) - v(s))
		}
	}
	return v(0), phi
}

func TestTreeSHAPMatchesBruteForceShapley(t *testing.T) {
	g := mltest.Fraudish(2_000, 6, 3)
	cfg := ml.DefaultGBDTConfig()
	cfg.Trees, cfg.MaxDepth, cfg.MaxLeaves = 8, 4, 12 // deep enough for a feature to repeat on a path
	m, err := ml.TrainGBDT(ctx, g.Dataset, cfg)
	if err != nil {
		t.Fatal(err)
	}
	base, trees := readArtifactTrees(t, m)
	repeated := false
	for _, tr := range trees {
		repeated = repeated || featureRepeatsOnAPath(tr, 0, 0)
	}
	if !repeated {
		t.Fatal("no tree splits twice on one feature along a path: the test would not exercise unwinding")
	}
	k := g.Schema.Len()
	for _, row := range []int{0, 1, 7, 100, 1999} {
		e, err := m.Explain(g.Batch(), row)
		if err != nil {
			t.Fatal(err)
		}
		if e.Method != ml.MethodTreeSHAP {
			t.Fatalf("Explain method = %q, want %q", e.Method, ml.MethodTreeSHAP)
		}
		bias, phi := bruteShapley(base, trees, g.X[row*k:(row+1)*k])
		if !near(e.Bias, bias, 1e-9) {
			t.Errorf("row %d: bias = %v, want E[f] = %v", row, e.Bias, bias)
		}
		for j, c := range e.Contributions {
			if !near(c.Value, phi[j], 1e-9) {
				t.Errorf("row %d feature %s: TreeSHAP %v, brute-force Shapley %v", row, c.Feature, c.Value, phi[j])
			}
		}
	}
}

func featureRepeatsOnAPath(tr artTree, n int32, seen uint) bool {
	f := tr.feat[n]
	if f < 0 {
		return false
	}
	if seen&(1<<uint(f)) != 0 {
		return true
	}
	seen |= 1 << uint(f)
	return featureRepeatsOnAPath(tr, tr.left[n], seen) || featureRepeatsOnAPath(tr, tr.left[n]+1, seen)
}

// An artifact without covers (written before TreeSHAP) still loads and explains, by path
// attribution, and says so.
func TestGBDTWithoutCoversFallsBackToSaabas(t *testing.T) {
	g := mltest.Fraudish(1_000, 6, 4)
	cfg := ml.DefaultGBDTConfig()
	cfg.Trees = 5
	m, err := ml.TrainGBDT(ctx, g.Dataset, cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := m.MarshalBinary()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(env["body"], &body); err != nil {
		t.Fatal(err)
	}
	for _, tr := range body["trees"].([]any) {
		delete(tr.(map[string]any), "cover")
	}
	env["body"], _ = json.Marshal(body)
	old, _ := json.Marshal(env)
	m2, err := ml.Unmarshal(old)
	if err != nil {
		t.Fatal(err)
	}
	e, err := m2.Explain(g.Batch(), 3)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]float64, g.Rows())
	_ = m.Predict(g.Batch(), p)
	if e.Method != ml.MethodSaabas || !near(e.Logit, math.Log(p[3]/(1-p[3])), 1e-9) {
		t.Errorf("Explain without covers = %s logit %v, want saabas summing to the logit", e.Method, e.Logit)
	}
}
