package ease_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/recsys/internal/ease"
	"github.com/casebook-ml/casebook/recsys/sim"
)

var ctx = context.Background()

// TestClosedForm checks Train against B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹,
// computed densely here, on a tiny catalogue with a repeated pair (X is binary) and
// item ids that are neither dense nor ordered.
func TestClosedForm(t *testing.T) {
	users := []int64{1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 1}
	items := []int64{30, 10, 70, 10, 70, 10, 20, 30, 20, 70, 30}
	const lambda = 0.5
	m, err := ease.Train(ctx, users, items, ease.Config{Lambda: lambda, MaxItems: 10})
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{10, 20, 30, 70}
	if !slices.Equal(m.ItemIDs(), ids) {
		t.Fatalf("ItemIDs() = %v, want %v", m.ItemIDs(), ids)
	}
	x := mat.NewDense(4, 4, nil) // users × items, binary
	for k := range users {
		x.Set(int(users[k]-1), slices.Index(ids, items[k]), 1)
	}
	var g, p mat.Dense
	g.Mul(x.T(), x)
	for i := range 4 {
		g.Set(i, i, g.At(i, i)+lambda)
	}
	if err := p.Inverse(&g); err != nil {
		t.Fatal(err)
	}
	one := make([]int, 1)
	for i := range 4 {
		one[0] = i
		row := m.Scores(one, nil) // row i of B
		for j := range 4 {
			want := 0.0
			if i != j {
				want = -p.At(i, j) / p.At(j, j)
			}
			if math.Abs(row[j]-want) > 1e-6 {
				t.Errorf("B[%d][%d] = %v, want %v", i, j, row[j], want)
			}
		}
	}
}

func TestScores(t *testing.T) {
	m := train(t, smallSim(t, 2), ease.DefaultConfig())
	n := m.Len()
	rows := func(idx ...int) []float64 {
		out := make([]float64, n)
		one := make([]int, 1)
		for _, i := range idx {
			one[0] = i
			for j, v := range m.Scores(one, nil) {
				out[j] += v
			}
		}
		return out
	}
	dst := make([]float64, 2, n+5)
	got := m.Scores([]int{3, -1, 7, n, 11}, dst)
	if &got[0] != &dst[0] {
		t.Error("Scores did not reuse a dst with enough capacity")
	}
	want := rows(3, 7, 11)
	for j := range want {
		if math.Abs(got[j]-want[j]) > 1e-9 {
			t.Fatalf("Scores({3, -1, 7, n, 11})[%d] = %v, want rows 3+7+11 = %v (out-of-range indexes skipped)", j, got[j], want[j])
		}
	}
	if s := m.Scores(nil, got); slices.ContainsFunc(s, func(v float64) bool { return v != 0 }) {
		t.Error("Scores(no items) is not all zero")
	}
	for k, id := range m.ItemIDs() {
		if m.ItemIndex(id) != k || m.ItemID(k) != id {
			t.Fatalf("ItemIndex(%d) = %d, ItemID(%d) = %d; want %d and %d", id, m.ItemIndex(id), k, m.ItemID(k), k, id)
		}
	}
	if m.ItemIndex(-5) != -1 {
		t.Errorf("ItemIndex(unknown) = %d, want -1", m.ItemIndex(-5))
	}
}

func TestArtifactRoundTrip(t *testing.T) {
	m := train(t, smallSim(t, 3), ease.DefaultConfig())
	a, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var m2 ease.Model
	if err := m2.UnmarshalBinary(a); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	if b, _ := m2.MarshalBinary(); !bytes.Equal(a, b) {
		t.Error("re-encoded artifact differs")
	}
	if m2.Lambda() != m.Lambda() || !slices.Equal(m2.ItemIDs(), m.ItemIDs()) {
		t.Errorf("decoded λ %v ids %d, want %v %d", m2.Lambda(), m2.Len(), m.Lambda(), m.Len())
	}
	hist := []int{0, 5, 9, 40}
	if !slices.Equal(m.Scores(hist, nil), m2.Scores(hist, nil)) {
		t.Error("decoded Scores differ from the original's")
	}
	// The same data and config give the same bytes.
	again := train(t, smallSim(t, 3), ease.DefaultConfig())
	if b, _ := again.MarshalBinary(); !bytes.Equal(a, b) {
		t.Error("two trainings on the same data give different artifacts")
	}
}

func TestUnmarshalRefusesCorruptInput(t *testing.T) {
	m, err := ease.Train(ctx, []int64{1, 1, 2, 2, 3}, []int64{5, 6, 6, 7, 5}, ease.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	good, _ := m.MarshalBinary()
	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	// reseal recomputes the checksum, so a test reaches the checks behind it.
	reseal := func(b []byte) []byte {
		body := b[:len(b)-4]
		return binary.LittleEndian.AppendUint32(slices.Clone(body), crc32c(body))
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter"},
		{"json", []byte(`{"format":"casebook.ml.model/v1"}`), "not an EASE artifact"},
		{"truncated", good[:len(good)-9], "bytes, want"},
		{"trailing byte", append(slices.Clone(good), 0), "bytes, want"},
		{"flipped weight bit", mutate(func(b []byte) []byte { b[len(b)-10] ^= 0x10; return b }), "checksum"},
		{"version 2", mutate(func(b []byte) []byte { b[8] = 2; return reseal(b) }), "version 2"},
		{"zero items", mutate(func(b []byte) []byte { clear(b[12:16]); return reseal(b) }), "0 items"},
		{"NaN lambda", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[16:], math.Float64bits(math.NaN()))
			return reseal(b)
		}), "lambda"},
		{"ids out of order", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[24:], 99)
			return reseal(b)
		}), "ascending"},
		{"non-zero diagonal", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[24+3*8:], math.Float32bits(0.5))
			return reseal(b)
		}), "diagonal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.UnmarshalBinary(tt.data)
			if !errors.Is(err, ease.ErrBadArtifact) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("UnmarshalBinary(%s) = %v, want ErrBadArtifact mentioning %q", tt.name, err, tt.want)
			}
			if b, _ := m.MarshalBinary(); !bytes.Equal(b, good) {
				t.Errorf("UnmarshalBinary(%s) changed the model; want it left as it was", tt.name)
			}
		})
	}
}

func TestValidateAndTrainErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	us, is := []int64{1, 1, 2}, []int64{1, 2, 3}
	tests := []struct {
		name         string
		ctx          context.Context
		users, items []int64
		cfg          ease.Config
		want         error
	}{
		{"zero lambda", ctx, us, is, ease.Config{Lambda: 0, MaxItems: 10}, ease.ErrInvalidConfig},
		{"NaN lambda", ctx, us, is, ease.Config{Lambda: math.NaN(), MaxItems: 10}, ease.ErrInvalidConfig},
		{"infinite lambda", ctx, us, is, ease.Config{Lambda: math.Inf(1), MaxItems: 10}, ease.ErrInvalidConfig},
		{"zero max items", ctx, us, is, ease.Config{Lambda: 1}, ease.ErrInvalidConfig},
		{"huge max items", ctx, us, is, ease.Config{Lambda: 1, MaxItems: 1 << 30}, ease.ErrInvalidConfig},
		{"length mismatch", ctx, us, is[:2], ease.DefaultConfig(), ease.ErrInvalidInput},
		{"no pairs", ctx, nil, nil, ease.DefaultConfig(), ease.ErrInvalidInput},
		{"too many items", ctx, us, is, ease.Config{Lambda: 1, MaxItems: 2}, ease.ErrTooManyItems},
		{"cancelled", cancelled, us, is, ease.DefaultConfig(), context.Canceled},
		{"ok", ctx, us, is, ease.Config{Lambda: 1, MaxItems: 3}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ease.Train(tt.ctx, tt.users, tt.items, tt.cfg)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Train(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
	if err := ease.DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v, want nil", err)
	}
}

// TestBeatsPopularity is the evidence run: MovieLens-100K-shaped data from recsys/sim,
// Microsoft Recommenders' protocol (75/25 split stratified by item, full ranking of the
// items a user did not train on, binary relevance). EASE, BPR and iALS at their defaults
// against popularity; it asserts only that EASE beats popularity clearly.
func TestBeatsPopularity(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size ranking evaluation")
	}
	p := newProtocol(t, sim.DefaultConfig())
	t.Logf("data: %d users, %d items, %d interactions; %d train pairs", p.users, p.items, p.pairs, len(p.trainUsers))
	pop := evaluateTop10(p.train, p.test, popularity(p.train, p.items))
	t.Logf("%-11s %v", "popularity:", pop)
	t0 := time.Now()
	m, err := ease.Train(ctx, p.trainUsers, p.trainItems, ease.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	r := evaluateTop10(p.train, p.test, easeScores(m, p.train, p.items))
	t.Logf("%-11s %v  train %v", "ease:", r, took.Round(time.Millisecond))
	if r.NDCG < pop.NDCG+0.05 || r.Precision < pop.Precision+0.03 {
		t.Errorf("EASE NDCG@10 %.4f, P@10 %.4f; want ≥ popularity's %.4f + 0.05 and %.4f + 0.03", r.NDCG, r.Precision, pop.NDCG, pop.Precision)
	}
	d, err := ml.InteractionDataset(p.trainUsers, p.trainItems)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		train func() (*ml.MF, error)
	}{
		{"bpr", func() (*ml.MF, error) { return ml.TrainBPR(ctx, d, ml.DefaultBPRConfig()) }},
		{"ials", func() (*ml.MF, error) { return ml.TrainIALS(ctx, d, ml.DefaultIALSConfig()) }},
	} {
		t0 := time.Now()
		mf, err := tc.train()
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(t0)
		t.Logf("%-11s %v  train %v", tc.name+":", evaluateTop10(p.train, p.test, mfScores(mf, p.items)), took.Round(time.Millisecond))
	}
}

// TestTuneLambda sweeps λ; set EASE_TUNE=1 (or a comma-separated list of λ) to run it.
func TestTuneLambda(t *testing.T) {
	v := os.Getenv("EASE_TUNE")
	if v == "" {
		t.Skip("set EASE_TUNE=1 to sweep λ")
	}
	lambdas := []float64{10, 50, 100, 200, 300, 500, 800, 1500, 3000}
	if v != "1" {
		lambdas = lambdas[:0]
		for _, f := range strings.Split(v, ",") {
			l, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatal(err)
			}
			lambdas = append(lambdas, l)
		}
	}
	for _, seed := range []uint64{1, 2} {
		c := sim.DefaultConfig()
		c.Seed = seed
		p := newProtocol(t, c)
		t.Logf("seed %d popularity: %v", seed, evaluateTop10(p.train, p.test, popularity(p.train, p.items)))
		for _, l := range lambdas {
			m, err := ease.Train(ctx, p.trainUsers, p.trainItems, ease.Config{Lambda: l, MaxItems: 20_000})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("seed %d λ=%-6g %v", seed, l, evaluateTop10(p.train, p.test, easeScores(m, p.train, p.items)))
		}
	}
}

// go test -run '^$' -bench TrainEASE ./internal/ease/
func BenchmarkTrainEASE(b *testing.B) {
	p := newProtocol(b, sim.DefaultConfig())
	for b.Loop() {
		if _, err := ease.Train(ctx, p.trainUsers, p.trainItems, ease.DefaultConfig()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/train")
}

// go test -run '^$' -bench ScoresEASE ./internal/ease/
func BenchmarkScoresEASE(b *testing.B) {
	p := newProtocol(b, sim.DefaultConfig())
	m, err := ease.Train(ctx, p.trainUsers, p.trainItems, ease.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	hist := make([]int, 0, 100) // a user with 100 items, about ML-100K's mean
	for i := range 100 {
		hist = append(hist, i*13%m.Len())
	}
	dst := make([]float64, m.Len())
	for b.Loop() {
		dst = m.Scores(hist, dst)
	}
}

func train(t *testing.T, p protocol, cfg ease.Config) *ease.Model {
	t.Helper()
	m, err := ease.Train(ctx, p.trainUsers, p.trainItems, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// smallSim is a 200-user, 300-item world for fast tests.
func smallSim(t *testing.T, seed uint64) protocol {
	t.Helper()
	c := sim.DefaultConfig()
	c.Seed, c.Users, c.Items, c.Interactions, c.MaxPerUser = seed, 200, 300, 8000, 150
	return newProtocol(t, c)
}

// protocol is a simulated log split 75/25 by item. Users and items are the simulator's
// dense ids, used directly as indexes.
type protocol struct {
	users, items, pairs    int
	train, test            [][]int // by user, item ids
	trainUsers, trainItems []int64
}

func newProtocol(t testing.TB, c sim.Config) protocol {
	t.Helper()
	s, err := sim.New(c)
	if err != nil {
		t.Fatal(err)
	}
	log, err := s.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := protocol{users: c.Users, items: c.Items, pairs: len(log), train: make([][]int, c.Users), test: make([][]int, c.Users)}
	// Recommenders' python_stratified_split(ratio=0.75, filter_by="item"): each item's
	// users shuffled, the first round(0.75·n) to training.
	byItem := make([][]int, c.Items)
	for _, x := range log {
		byItem[x.Item] = append(byItem[x.Item], int(x.User))
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x5911))
	for i, us := range byItem {
		slices.Sort(us)
		rng.Shuffle(len(us), func(a, b int) { us[a], us[b] = us[b], us[a] })
		cut := int(math.Round(0.75 * float64(len(us))))
		for n, u := range us {
			if n < cut {
				p.train[u] = append(p.train[u], i)
				p.trainUsers, p.trainItems = append(p.trainUsers, int64(u)), append(p.trainItems, int64(i))
			} else {
				p.test[u] = append(p.test[u], i)
			}
		}
	}
	return p
}

type rankMetrics struct {
	NDCG, Precision, Recall, MAP float64
	Users                        int
}

func (r rankMetrics) String() string {
	return fmt.Sprintf("NDCG@10 %.4f  P@10 %.4f  R@10 %.4f  MAP@10 %.4f  (%d users)", r.NDCG, r.Precision, r.Recall, r.MAP, r.Users)
}

// evaluateTop10 ranks, for each user with test items, every item not in the user's
// training items by score(u) (indexed by item id; ties to the lower id; −∞ never
// recommended) and scores the top 10 with binary relevance: NDCG with DCG Σ 1/log2(rank+1)
// and IDCG over min(10, |test|), precision hits/10, recall hits/|test|, and MAP as
// Recommenders' map_at_k, Σ precision@hit / |test|.
func evaluateTop10(train, test [][]int, score func(u int) []float64) rankMetrics {
	const k = 10
	var r rankMetrics
	for u := range test {
		if len(test[u]) == 0 {
			continue
		}
		s := score(u)
		seen := make(map[int]bool, len(train[u]))
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
				top = top[:min(len(top), k)]
			}
		}
		rel := make(map[int]bool, len(test[u]))
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

func popularity(train [][]int, items int) func(int) []float64 {
	pop := make([]float64, items)
	for _, is := range train {
		for _, i := range is {
			pop[i]++
		}
	}
	return func(int) []float64 { return pop }
}

// easeScores scores from each user's training items, mapped from the model's item order
// onto item ids; items the model never saw score −∞.
func easeScores(m *ease.Model, train [][]int, items int) func(int) []float64 {
	pos := make([]int, items)
	for i := range pos {
		pos[i] = m.ItemIndex(int64(i))
	}
	var (
		hist []int
		buf  []float64
	)
	out := make([]float64, items)
	return func(u int) []float64 {
		hist = hist[:0]
		for _, i := range train[u] {
			hist = append(hist, pos[i])
		}
		buf = m.Scores(hist, buf)
		for i, p := range pos {
			out[i] = math.Inf(-1)
			if p >= 0 {
				out[i] = buf[p]
			}
		}
		return out
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func mfScores(m *ml.MF, items int) func(int) []float64 {
	pos := make([]int, items)
	for i := range pos {
		pos[i] = m.ItemIndex(int64(i))
	}
	var buf []float64
	out := make([]float64, items)
	return func(u int) []float64 {
		buf = m.ScoreAll(int64(u), buf)
		for i, p := range pos {
			out[i] = math.Inf(-1)
			if p >= 0 {
				out[i] = buf[p]
			}
		}
		return out
	}
}
