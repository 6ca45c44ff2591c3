package ml_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

// ml100k is implicit feedback shaped like MovieLens-100K: users and items with latent
// vectors, Zipf-like item popularity and a heavy-tailed number of interactions per user,
// each user at least 20. Users and items are dense indexes; ids are index+1.
type ml100k struct {
	users, items int
	byUser       [][]int // each user's items, ascending
}

type ml100kShape struct {
	Users, Items, Dims int
	// MedianExtra is the median number of interactions per user above the minimum of 20.
	MedianExtra float64
	// PopExponent weighs log popularity; Affinity weighs the latent match.
	PopExponent, Affinity float64
}

func fullShape() ml100kShape {
	return ml100kShape{Users: 943, Items: 1682, Dims: 16, MedianExtra: 50, PopExponent: 1, Affinity: 1.6}
}

// smallShape is for fast unit tests.
func smallShape() ml100kShape {
	return ml100kShape{Users: 200, Items: 300, Dims: 8, MedianExtra: 15, PopExponent: 1, Affinity: 1.6}
}

// genML100K draws each user's items without replacement, with probability ∝
// pop_i^PopExponent · exp(Affinity·⟨u, v_i⟩/√Dims) (the Gumbel top-k trick).
func genML100K(s ml100kShape, seed uint64) ml100k {
	rng := rand.New(rand.NewPCG(seed, 0x100c))
	vec := func() []float64 {
		v := make([]float64, s.Dims)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	iv := make([][]float64, s.Items)
	logPop := make([]float64, s.Items)
	for i := range iv {
		iv[i] = vec()
		// Popularity falls with a random rank, like 1/(rank+20)^1.3.
		logPop[i] = -1.3 * math.Log(float64(rng.IntN(s.Items))+20)
	}
	d := ml100k{users: s.Users, items: s.Items, byUser: make([][]int, s.Users)}
	keys := make([]float64, s.Items)
	order := make([]int, s.Items)
	for u := range s.Users {
		uv := vec()
		n := 20 + int(s.MedianExtra*math.Exp(1.1*rng.NormFloat64()))
		n = min(n, 737, s.Items/2)
		for i := range keys {
			aff := 0.0
			for f := range uv {
				aff += uv[f] * iv[i][f]
			}
			gumbel := -math.Log(-math.Log(rng.Float64()))
			keys[i] = s.PopExponent*logPop[i] + s.Affinity*aff/math.Sqrt(float64(s.Dims)) + gumbel
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(keys[b], keys[a]) })
		d.byUser[u] = slices.Sorted(slices.Values(order[:n]))
	}
	return d
}

func (d ml100k) pairs() int {
	n := 0
	for _, is := range d.byUser {
		n += len(is)
	}
	return n
}

// splitByItem is Microsoft Recommenders' python_stratified_split(ratio=0.75,
// filter_by="item"): each item's users are shuffled and the first round(0.75·n) go to
// training.
func (d ml100k) splitByItem(seed uint64) (train, test [][]int) {
	rng := rand.New(rand.NewPCG(seed, 0x5911))
	byItem := make([][]int, d.items)
	for u, is := range d.byUser {
		for _, i := range is {
			byItem[i] = append(byItem[i], u)
		}
	}
	train, test = make([][]int, d.users), make([][]int, d.users)
	for i, us := range byItem {
		rng.Shuffle(len(us), func(a, b int) { us[a], us[b] = us[b], us[a] })
		cut := int(math.Round(0.75 * float64(len(us))))
		for n, u := range us {
			if n < cut {
				train[u] = append(train[u], i)
			} else {
				test[u] = append(test[u], i)
			}
		}
	}
	return train, test
}

func interactionData(t testing.TB, byUser [][]int) ml.Dataset {
	t.Helper()
	var us, is []int64
	for u, items := range byUser {
		for _, i := range items {
			us, is = append(us, int64(u+1)), append(is, int64(i+1))
		}
	}
	d, err := ml.InteractionDataset(us, is)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rankMetrics are averaged over the users with at least one test item.
type rankMetrics struct {
	NDCG, Precision, Recall, MAP float64
	Users                        int
}

func (r rankMetrics) String() string {
	return fmt.Sprintf("NDCG@10 %.4f  P@10 %.4f  R@10 %.4f  MAP@10 %.4f  (%d users)", r.NDCG, r.Precision, r.Recall, r.MAP, r.Users)
}

// evaluateTop10 ranks, for each user, every item not in the user's training items by
// score(u) (one score per item index, higher first, ties to the lower index) and scores
// the top 10 against the test items with binary relevance: DCG Σ 1/log2(rank+1) over hits,
// IDCG over min(10, |test|); MAP is Recommenders' map_at_k, Σ precision@hit / |test|.
func evaluateTop10(train, test [][]int, score func(u int) []float64) rankMetrics {
	const k = 10
	var r rankMetrics
	seen := map[int]bool{}
	for u := range test {
		if len(test[u]) == 0 {
			continue
		}
		s := score(u)
		clear(seen)
		for _, i := range train[u] {
			seen[i] = true
		}
		var top []int
		for i, v := range s {
			if seen[i] || math.IsInf(v, -1) {
				continue
			}
			p := len(top)
			for p > 0 && s[top[p-1]] < v {
				p--
			}
			if p < k {
				top = slices.Insert(top, p, i)
				if len(top) > k {
					top = top[:k]
				}
			}
		}
		rel := map[int]bool{}
		for _, i := range test[u] {
			rel[i] = true
		}
		dcg, idcg, hits, ap := 0.0, 0.0, 0, 0.0
		for rank, i := range top {
			if rel[i] {
				hits++
				dcg += 1 / math.Log2(float64(rank+2))
				ap += float64(hits) / float64(rank+1)
			}
		}
		for rank := range min(k, len(test[u])) {
			idcg += 1 / math.Log2(float64(rank+2))
		}
		r.NDCG += dcg / idcg
		r.Precision += float64(hits) / k
		r.Recall += float64(hits) / float64(len(test[u]))
		r.MAP += ap / float64(len(test[u]))
		r.Users++
	}
	n := float64(r.Users)
	r.NDCG, r.Precision, r.Recall, r.MAP = r.NDCG/n, r.Precision/n, r.Recall/n, r.MAP/n
	return r
}

func popularityScores(train [][]int, items int) func(int) []float64 {
	pop := make([]float64, items)
	for _, is := range train {
		for _, i := range is {
			pop[i]++
		}
	}
	return func(int) []float64 { return pop }
}

// mfScores maps an MF's ScoreAll (over its own item order) onto item indexes; items the
// model never saw score −∞.
func mfScores(m *ml.MF, items int) func(int) []float64 {
	pos := make([]int, items)
	for i := range pos {
		pos[i] = m.ItemIndex(int64(i + 1))
	}
	var buf []float64
	out := make([]float64, items)
	return func(u int) []float64 {
		buf = m.ScoreAll(int64(u+1), buf)
		for i, p := range pos {
			out[i] = math.Inf(-1)
			if p >= 0 {
				out[i] = buf[p]
			}
		}
		return out
	}
}

type protocol struct {
	data        ml100k
	train, test [][]int
	trainData   ml.Dataset
}

func newProtocol(t testing.TB, s ml100kShape, seed uint64) protocol {
	t.Helper()
	d := genML100K(s, seed)
	train, test := d.splitByItem(seed + 1)
	return protocol{data: d, train: train, test: test, trainData: interactionData(t, train)}
}

// TestImplicitBeatsPopularity is the evidence run on ML-100K-shaped data under the
// Recommenders protocol. It logs the numbers and asserts only robust facts: each model
// beats popularity by a clear margin, and training is reproducible.
func TestImplicitBeatsPopularity(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size ranking evaluation")
	}
	p := newProtocol(t, fullShape(), 42)
	t.Logf("data: %d users, %d items, %d interactions; train %d rows", p.data.users, p.data.items, p.data.pairs(), p.trainData.Rows())
	pop := evaluateTop10(p.train, p.test, popularityScores(p.train, p.data.items))
	t.Logf("popularity: %v", pop)
	for _, tc := range []struct {
		name  string
		train func() (*ml.MF, error)
	}{
		{"bpr", func() (*ml.MF, error) { return ml.TrainBPR(ctx, p.trainData, ml.DefaultBPRConfig()) }},
		{"ials", func() (*ml.MF, error) { return ml.TrainIALS(ctx, p.trainData, ml.DefaultIALSConfig()) }},
	} {
		t0 := time.Now()
		m, err := tc.train()
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(t0)
		r := evaluateTop10(p.train, p.test, mfScores(m, p.data.items))
		t.Logf("%-10s %v  train %v", tc.name+":", r, took.Round(time.Millisecond))
		if r.NDCG < pop.NDCG+0.05 {
			t.Errorf("%s NDCG@10 = %.4f, want ≥ popularity %.4f + 0.05", tc.name, r.NDCG, pop.NDCG)
		}
		if r.Precision < pop.Precision+0.03 {
			t.Errorf("%s Precision@10 = %.4f, want ≥ popularity %.4f + 0.03", tc.name, r.Precision, pop.Precision)
		}
	}
}

// TestTuneImplicit sweeps the trainers' main settings; it runs only with ML_TUNE=1
// (go test -run TuneImplicit -v ./ml/ with ML_TUNE=1 set), minutes in all.
func TestTuneImplicit(t *testing.T) {
	if os.Getenv("ML_TUNE") == "" {
		t.Skip("set ML_TUNE=1 to sweep")
	}
	p := newProtocol(t, fullShape(), 42)
	t.Logf("popularity: %v", evaluateTop10(p.train, p.test, popularityScores(p.train, p.data.items)))
	run := func(name string, train func() (*ml.MF, error)) {
		t0 := time.Now()
		m, err := train()
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(t0)
		t.Logf("%-58s %v  %v", name, evaluateTop10(p.train, p.test, mfScores(m, p.data.items)), took.Round(time.Millisecond))
	}
	want := os.Getenv("ML_TUNE")
	if want == "1" || strings.Contains(want, "bpr") {
		for _, k := range []int{32, 64, 128} {
			for _, lr := range []float64{0.01, 0.02, 0.05} {
				for _, l2 := range []float64{0.01, 0.025, 0.05} {
					c := ml.DefaultBPRConfig()
					c.Factors, c.LearningRate, c.L2, c.BiasL2 = k, lr, l2, l2
					run(fmt.Sprintf("bpr k=%d ep=%d lr=%g l2=%g", k, c.Epochs, lr, l2), func() (*ml.MF, error) { return ml.TrainBPR(ctx, p.trainData, c) })
				}
			}
		}
	}
	if want == "1" || strings.Contains(want, "ials") {
		type point struct{ alpha, lambda, nu float64 }
		var grid []point
		for _, alpha := range []float64{2, 4, 8, 16} {
			for _, lambda := range []float64{0.01, 0.02, 0.03, 0.04, 0.05} {
				grid = append(grid, point{alpha, lambda, 1})
			}
		}
		for _, alpha := range []float64{2, 8} {
			for _, lambda := range []float64{10, 30, 60} {
				grid = append(grid, point{alpha, lambda, 0})
			}
		}
		for _, g := range grid {
			c := ml.DefaultIALSConfig()
			c.Alpha, c.Lambda, c.RegExponent = g.alpha, g.lambda, g.nu
			run(fmt.Sprintf("ials k=%d α=%g λ=%g ν=%g", c.Factors, g.alpha, g.lambda, g.nu), func() (*ml.MF, error) { return ml.TrainIALS(ctx, p.trainData, c) })
		}
		for _, k := range []int{32, 128} {
			for _, solver := range []string{ml.SolverCG, ml.SolverCholesky} {
				c := ml.DefaultIALSConfig()
				c.Factors, c.Solver = k, solver
				run(fmt.Sprintf("ials k=%d %s", k, solver), func() (*ml.MF, error) { return ml.TrainIALS(ctx, p.trainData, c) })
			}
		}
	}
}

func smallBPR() ml.BPRConfig {
	c := ml.DefaultBPRConfig()
	c.Factors, c.Epochs = 16, 5
	return c
}

func smallIALS() ml.IALSConfig {
	c := ml.DefaultIALSConfig()
	c.Factors, c.Iterations = 16, 3
	return c
}

func encodeMF(t *testing.T, m *ml.MF, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImplicitDeterministic(t *testing.T) {
	d := newProtocol(t, smallShape(), 3).trainData
	b1 := smallBPR()
	b2 := b1
	b2.Seed = 2
	i1, i4, icg := smallIALS(), smallIALS(), smallIALS()
	i1.Workers, i4.Workers = 1, 4
	icg.Solver = ml.SolverCG
	icg2 := icg
	icg2.Workers = 3
	tests := []struct {
		name      string
		a, b      func() (*ml.MF, error)
		wantEqual bool
	}{
		{"bpr same seed", func() (*ml.MF, error) { return ml.TrainBPR(ctx, d, b1) }, func() (*ml.MF, error) { return ml.TrainBPR(ctx, d, b1) }, true},
		{"bpr other seed", func() (*ml.MF, error) { return ml.TrainBPR(ctx, d, b1) }, func() (*ml.MF, error) { return ml.TrainBPR(ctx, d, b2) }, false},
		{"ials 1 vs 4 workers", func() (*ml.MF, error) { return ml.TrainIALS(ctx, d, i1) }, func() (*ml.MF, error) { return ml.TrainIALS(ctx, d, i4) }, true},
		{"ials cg 1 vs 3 workers", func() (*ml.MF, error) { return ml.TrainIALS(ctx, d, icg) }, func() (*ml.MF, error) { return ml.TrainIALS(ctx, d, icg2) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tt.a()
			ea := encodeMF(t, a, err)
			b, err := tt.b()
			eb := encodeMF(t, b, err)
			if got := bytes.Equal(ea, eb); got != tt.wantEqual {
				t.Errorf("artifacts equal = %v, want %v", got, tt.wantEqual)
			}
		})
	}
}

// The CG solver must land close to the exact one: same data, a few steps per row.
func TestIALSConjugateGradientNearCholesky(t *testing.T) {
	p := newProtocol(t, smallShape(), 4)
	c := ml.DefaultIALSConfig()
	c.Factors = 16
	exact, err := ml.TrainIALS(ctx, p.trainData, c)
	if err != nil {
		t.Fatal(err)
	}
	c.Solver = ml.SolverCG
	cg, err := ml.TrainIALS(ctx, p.trainData, c)
	if err != nil {
		t.Fatal(err)
	}
	re := evaluateTop10(p.train, p.test, mfScores(exact, p.data.items))
	rc := evaluateTop10(p.train, p.test, mfScores(cg, p.data.items))
	t.Logf("cholesky %v\ncg       %v", re, rc)
	if math.Abs(re.NDCG-rc.NDCG) > 0.02 {
		t.Errorf("CG NDCG@10 = %.4f, want within 0.02 of Cholesky's %.4f", rc.NDCG, re.NDCG)
	}
}

func TestImplicitArtifactRoundTrip(t *testing.T) {
	p := newProtocol(t, smallShape(), 5)
	bpr, err := ml.TrainBPR(ctx, p.trainData, smallBPR())
	if err != nil {
		t.Fatal(err)
	}
	ials, err := ml.TrainIALS(ctx, p.trainData, smallIALS())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		m       *ml.MF
		trainer string
	}{{"bpr", bpr, ml.TrainerBPR}, {"ials", ials, ml.TrainerIALS}} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ml.Unmarshal(a)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			m2, ok := got.(*ml.MF)
			if !ok || got.Family() != ml.FamilyMF {
				t.Fatalf("Unmarshal gave %T family %q, want *ml.MF family %q", got, got.Family(), ml.FamilyMF)
			}
			if b, _ := m2.MarshalBinary(); !bytes.Equal(a, b) {
				t.Error("re-encoded artifact differs")
			}
			if c := m2.Config(); c.Trainer != tc.trainer || c.Factors != tc.m.Config().Factors {
				t.Errorf("decoded Config() trainer %q factors %d, want %q %d", c.Trainer, c.Factors, tc.trainer, tc.m.Config().Factors)
			}
			for _, u := range []int64{1, 50, 200, 1 << 40} {
				s1, s2 := tc.m.ScoreAll(u, nil), m2.ScoreAll(u, nil)
				if !slices.Equal(s1, s2) {
					t.Fatalf("decoded ScoreAll(%d) differs from the original's", u)
				}
			}
			p1, p2 := make([]float64, p.trainData.Rows()), make([]float64, p.trainData.Rows())
			if err := tc.m.Predict(p.trainData.Batch(), p1); err != nil {
				t.Fatal(err)
			}
			if err := m2.Predict(p.trainData.Batch(), p2); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p1, p2) {
				t.Error("decoded Predict differs from the original's")
			}
		})
	}
}

// A logistic MF's artifact must not change with the new optional config fields, so
// artifacts written before them decode and re-encode to the same bytes.
func TestLogisticMFArtifactUnchanged(t *testing.T) {
	d := newProtocol(t, smallShape(), 6).trainData
	// TrainMF wants two classes: label a third of the rows 0.
	for i := range d.Y {
		if i%3 == 0 {
			d.Y[i] = 0
		}
	}
	c := ml.DefaultMFConfig()
	c.Epochs = 1
	m, err := ml.TrainMF(ctx, d, c)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.MarshalBinary()
	for _, key := range []string{"Trainer", "BPR", "IALS"} {
		if bytes.Contains(a, []byte(`"`+key+`"`)) {
			t.Errorf("logistic MF artifact contains %q, want it omitted", key)
		}
	}
	if !bytes.Contains(a, []byte(`"config":{"Factors":16,"Epochs":1,"LearningRate":0.1,"L2":0.00001,"InitStd":0.05,"Seed":1}`)) {
		t.Errorf("logistic MF config encodes as %s, want the pre-BPR encoding", a[bytes.Index(a, []byte(`"config"`)):][:120])
	}
}

func TestImplicitCorruptArtifact(t *testing.T) {
	d := newProtocol(t, smallShape(), 7).trainData
	m, err := ml.TrainBPR(ctx, d, smallBPR())
	good := encodeMF(t, m, err)
	tests := []struct{ name, old, new string }{
		{"unknown trainer", `"Trainer":"bpr"`, `"Trainer":"warp"`},
		{"trainer without its config", `"Trainer":"bpr"`, `"Trainer":"ials"`},
		{"factors disagree", `"BPR":{"Factors":16`, `"BPR":{"Factors":17`},
		{"bad nested config", `"NegativeSampling":"uniform"`, `"NegativeSampling":"popular"`},
		{"config without trainer", `"Trainer":"bpr",`, ``},
		{"truncated", `"item_vectors":"`, `"item_vectors":"AAAA`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(good, []byte(tt.old)) {
				t.Fatalf("artifact lacks %q", tt.old)
			}
			bad := bytes.Replace(good, []byte(tt.old), []byte(tt.new), 1)
			if _, err := ml.Unmarshal(bad); !errors.Is(err, ml.ErrBadArtifact) {
				t.Errorf("Unmarshal(%s) = %v, want ErrBadArtifact", tt.name, err)
			}
		})
	}
}

func TestImplicitConfigValidate(t *testing.T) {
	bpr := func(f func(*ml.BPRConfig)) error {
		c := ml.DefaultBPRConfig()
		f(&c)
		return c.Validate()
	}
	ials := func(f func(*ml.IALSConfig)) error {
		c := ml.DefaultIALSConfig()
		f(&c)
		return c.Validate()
	}
	tests := []struct {
		name string
		err  error
		ok   bool
	}{
		{"bpr default", bpr(func(*ml.BPRConfig) {}), true},
		{"bpr zero factors", bpr(func(c *ml.BPRConfig) { c.Factors = 0 }), false},
		{"bpr zero epochs", bpr(func(c *ml.BPRConfig) { c.Epochs = 0 }), false},
		{"bpr NaN learning rate", bpr(func(c *ml.BPRConfig) { c.LearningRate = math.NaN() }), false},
		{"bpr negative L2", bpr(func(c *ml.BPRConfig) { c.L2 = -1 }), false},
		{"bpr unknown sampling", bpr(func(c *ml.BPRConfig) { c.NegativeSampling = "popularity" }), false},
		{"ials default", ials(func(*ml.IALSConfig) {}), true},
		{"ials cg", ials(func(c *ml.IALSConfig) { c.Solver = ml.SolverCG }), true},
		{"ials cg zero steps", ials(func(c *ml.IALSConfig) { c.Solver, c.CGSteps = ml.SolverCG, 0 }), false},
		{"ials zero lambda", ials(func(c *ml.IALSConfig) { c.Lambda = 0 }), false},
		{"ials infinite alpha", ials(func(c *ml.IALSConfig) { c.Alpha = math.Inf(1) }), false},
		{"ials exponent 3", ials(func(c *ml.IALSConfig) { c.RegExponent = 3 }), false},
		{"ials unknown solver", ials(func(c *ml.IALSConfig) { c.Solver = "lu" }), false},
		{"ials zero iterations", ials(func(c *ml.IALSConfig) { c.Iterations = 0 }), false},
		{"mf unknown trainer", ml.MFConfig{Factors: 8, Trainer: "warp"}.Validate(), false},
		{"mf bpr trainer without config", ml.MFConfig{Factors: 8, Trainer: ml.TrainerBPR}.Validate(), false},
		{"mf logistic with a bpr config", func() error { c := ml.DefaultMFConfig(); c.BPR = &ml.BPRConfig{}; return c.Validate() }(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ok && tt.err != nil {
				t.Errorf("Validate() = %v, want nil", tt.err)
			}
			if !tt.ok && !errors.Is(tt.err, ml.ErrInvalidConfig) {
				t.Errorf("Validate() = %v, want ErrInvalidConfig", tt.err)
			}
		})
	}
}

func TestImplicitBadInput(t *testing.T) {
	good := newProtocol(t, smallShape(), 8).trainData
	zero := good.WithLabels(make([]float64, good.Rows()))
	wrong := ml.Dataset{Schema: ml.FloatSchema("user", "item"), X: good.X, Y: good.Y}
	nan := good.WithLabels(slices.Clone(good.Y))
	nan.X = slices.Clone(good.X)
	nan.X[3] = math.NaN()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	type trainer func(context.Context, ml.Dataset) (*ml.MF, error)
	bpr := func(c context.Context, d ml.Dataset) (*ml.MF, error) { return ml.TrainBPR(c, d, smallBPR()) }
	ials := func(c context.Context, d ml.Dataset) (*ml.MF, error) { return ml.TrainIALS(c, d, smallIALS()) }
	for _, tr := range []struct {
		name  string
		train trainer
	}{{"bpr", bpr}, {"ials", ials}} {
		tests := []struct {
			name string
			ctx  context.Context
			d    ml.Dataset
			want error
		}{
			{"no positives", ctx, zero, ml.ErrEmpty},
			{"float schema", ctx, wrong, ml.ErrInvalidSchema},
			{"NaN id", ctx, nan, ml.ErrNonFinite},
			{"cancelled", cctx, good, context.Canceled},
		}
		for _, tt := range tests {
			t.Run(tr.name+" "+tt.name, func(t *testing.T) {
				if _, err := tr.train(tt.ctx, tt.d); !errors.Is(err, tt.want) {
					t.Errorf("train(%s) = %v, want %v", tt.name, err, tt.want)
				}
			})
		}
	}
	if _, err := ml.InteractionDataset([]int64{1, 2}, []int64{1}); !errors.Is(err, ml.ErrShape) {
		t.Errorf("InteractionDataset(2 users, 1 item) = %v, want ErrShape", err)
	}
	if _, err := ml.InteractionDataset([]int64{1 << 60}, []int64{1}); !errors.Is(err, ml.ErrShape) {
		t.Errorf("InteractionDataset(id 2^60) = %v, want ErrShape", err)
	}
	if _, err := ml.InteractionDataset(nil, nil); !errors.Is(err, ml.ErrEmpty) {
		t.Errorf("InteractionDataset(nil) = %v, want ErrEmpty", err)
	}
	c := ml.DefaultMFConfig()
	c.Trainer, c.BPR = ml.TrainerBPR, &ml.BPRConfig{}
	*c.BPR = ml.DefaultBPRConfig()
	c.BPR.Factors = c.Factors
	if _, err := ml.TrainMF(ctx, good, c); !errors.Is(err, ml.ErrInvalidConfig) {
		t.Errorf("TrainMF(Trainer bpr) = %v, want ErrInvalidConfig", err)
	}
}

// ScoreAll must rank items for a user exactly as Predict does, and follow ItemVectors.
func TestScoreAllMatchesPredictAndVectors(t *testing.T) {
	p := newProtocol(t, smallShape(), 9)
	m, err := ml.TrainBPR(ctx, p.trainData, smallBPR())
	if err != nil {
		t.Fatal(err)
	}
	ids, vecs, biases := m.ItemVectors()
	const user = 17
	s := m.ScoreAll(user, make([]float64, 3))
	if len(s) != len(ids) {
		t.Fatalf("len(ScoreAll) = %d, want %d", len(s), len(ids))
	}
	u, _ := m.UserVector(user)
	x := make([]float64, 0, 2*len(ids))
	for i, id := range ids {
		if got := m.ItemIndex(id); got != i {
			t.Fatalf("ItemIndex(%d) = %d, want %d", id, got, i)
		}
		want := biases[i]
		for f := range u {
			want += u[f] * vecs[i][f]
		}
		if math.Abs(s[i]-want) > 1e-12 {
			t.Fatalf("ScoreAll[%d] = %v, want bias + ⟨u, v⟩ = %v", i, s[i], want)
		}
		x = append(x, user, float64(id))
	}
	pr := make([]float64, len(ids))
	if err := m.Predict(ml.Batch{Schema: p.trainData.Schema, X: x}, pr); err != nil {
		t.Fatal(err)
	}
	// BPR learns no global or user bias, so Predict is exactly σ(ScoreAll).
	for i := range ids {
		if want := 1 / (1 + math.Exp(-s[i])); math.Abs(pr[i]-want) > 1e-12 {
			t.Fatalf("Predict(user %d, item %d) = %v, want σ(ScoreAll) = %v", user, ids[i], pr[i], want)
		}
	}
	if m.ItemIndex(1<<40) != -1 {
		t.Error("ItemIndex(unseen) != -1")
	}
	if cold := m.ScoreAll(1<<40, nil); !slices.Equal(cold, biases) {
		t.Error("ScoreAll(unseen user) is not the item biases")
	}
}

// go test -run '^$' -bench 'Train(BPR|IALS)' -benchtime 1x ./ml/
func BenchmarkTrainBPR(b *testing.B) {
	p := newProtocol(b, fullShape(), 42)
	for b.Loop() {
		if _, err := ml.TrainBPR(context.Background(), p.trainData, ml.DefaultBPRConfig()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/train")
}

func BenchmarkTrainIALS(b *testing.B) {
	p := newProtocol(b, fullShape(), 42)
	for _, solver := range []string{ml.SolverCholesky, ml.SolverCG} {
		b.Run(solver, func(b *testing.B) {
			c := ml.DefaultIALSConfig()
			c.Solver = solver
			for b.Loop() {
				if _, err := ml.TrainIALS(context.Background(), p.trainData, c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/train")
		})
	}
}
