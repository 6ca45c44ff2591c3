package retrieval_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/recsys/internal/ann"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
)

var ctx = context.Background()

const (
	nUsers, nItems, perUser = 300, 400, 15
	factors                 = 16
	embeddings              = "recsys-mf/v1"
)

// trainMF fits BPR on clustered interactions: user u prefers the items of cluster u%10
// (70% of picks), and otherwise picks skewed toward low item ids (popular items). A few
// thousand pairs, a few epochs: milliseconds.
var trainMF = sync.OnceValues(func() (*ml.MF, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	var users, items []int64
	for u := range nUsers {
		for range perUser {
			var it int
			if rng.Float64() < 0.7 {
				it = 10*rng.IntN(nItems/10) + u%10
			} else {
				r := rng.Float64()
				it = int(float64(nItems) * r * r)
			}
			users, items = append(users, int64(u)), append(items, int64(it))
		}
	}
	// Every item at least once, so the factorization knows all nItems.
	for it := range nItems {
		users, items = append(users, int64(rng.IntN(nUsers))), append(items, int64(it))
	}
	d, err := ml.InteractionDataset(users, items)
	if err != nil {
		return nil, err
	}
	cfg := ml.DefaultBPRConfig()
	cfg.Factors, cfg.Epochs, cfg.LearningRate = factors, 15, 0.05
	return ml.TrainBPR(ctx, d, cfg)
})

func mf(t *testing.T) *ml.MF {
	t.Helper()
	m, err := trainMF()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func buildConfig() retrieval.BuildConfig {
	c := retrieval.DefaultBuildConfig()
	c.GateQueries = 200
	return c
}

type built struct {
	ix  *retrieval.Index
	rep retrieval.BuildReport
}

// shared is one build for the tests that only read the index.
var shared = sync.OnceValues(func() (built, error) {
	m, err := trainMF()
	if err != nil {
		return built{}, err
	}
	ix, rep, err := retrieval.Build(ctx, m, embeddings, buildConfig())
	return built{ix, rep}, err
})

// build returns the shared index; tests that add items call fresh instead.
func build(t *testing.T) (*retrieval.Index, retrieval.BuildReport) {
	t.Helper()
	b, err := shared()
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	return b.ix, b.rep
}

func fresh(t *testing.T) *retrieval.Index {
	t.Helper()
	ix, _, err := retrieval.Build(ctx, mf(t), embeddings, buildConfig())
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	return ix
}

// exactTop is the factorization's own top k for a user, by ⟨p, q⟩ + b.
func exactTop(m *ml.MF, user int64, k int) []int64 {
	ids, _, _ := m.ItemVectors()
	scores := m.ScoreAll(user, nil)
	idx := order(scores)
	out := make([]int64, 0, k)
	for _, i := range idx[:k] {
		out = append(out, ids[i])
	}
	return out
}

func resultIDs(rs []ann.Result) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestBuild(t *testing.T) {
	m := mf(t)
	ix, rep := build(t)
	if rep.Items != nItems || rep.Dim != factors+2 || ix.HNSW.Len() != nItems {
		t.Errorf("Build: Items %d, Dim %d, HNSW.Len %d; want %d, %d, %d", rep.Items, rep.Dim, ix.HNSW.Len(), nItems, factors+2, nItems)
	}
	if !(rep.Recall >= retrieval.RecallFloor && rep.Recall <= 1) {
		t.Errorf("Build: Recall = %v, want in [%v, 1]", rep.Recall, retrieval.RecallFloor)
	}
	if !(rep.BytesPerVector > 0) || rep.Clamped != 0 || rep.BuildTime <= 0 {
		t.Errorf("Build: BytesPerVector %v, Clamped %d, BuildTime %v; want > 0, 0, > 0", rep.BytesPerVector, rep.Clamped, rep.BuildTime)
	}
	if ix.Embeddings != embeddings || ix.Aug.Factors != factors || !(ix.Aug.Phi > 0) {
		t.Errorf("Build: Embeddings %q, Aug %+v; want %q, %d factors, Phi > 0", ix.Embeddings, ix.Aug, embeddings, factors)
	}
	// Searching with a user's vector finds the factorization's own top 10, nearest first,
	// and a result's cosine times Φ‖(p, 1)‖ is the factorization's score.
	ids, _, _ := m.ItemVectors()
	var hits, total int
	for u := int64(0); u < nUsers; u += 10 {
		p, _ := m.UserVector(u)
		res := ix.Search(p, 10, 128, nil, nil)
		if len(res) != 10 {
			t.Fatalf("Search(user %d, k 10) returned %d results", u, len(res))
		}
		if !slices.IsSortedFunc(res, func(a, b ann.Result) int { return -cmpF32(a.Score, b.Score) }) {
			t.Errorf("Search(user %d) = %v, want nearest first", u, res)
		}
		want := exactTop(m, u, 10)
		for _, id := range resultIDs(res) {
			total++
			if slices.Contains(want, id) {
				hits++
			}
		}
		scores := m.ScoreAll(u, nil)
		scale := ix.Aug.Phi * math.Sqrt(sumSq(p)+1)
		for _, r := range res {
			s := scores[slices.Index(ids, r.ID)]
			if got := float64(r.Score) * scale; !(math.Abs(got-s) <= 1e-4*math.Max(1, math.Abs(s))) {
				t.Errorf("Search(user %d): item %d cosine×Φ‖y‖ = %v, want the factorization's score %v", u, r.ID, got, s)
			}
		}
	}
	if r := float64(hits) / float64(total); r < retrieval.RecallFloor {
		t.Errorf("Search recall@10 against the factorization's exact top 10 = %v, want ≥ %v", r, retrieval.RecallFloor)
	}
}

func cmpF32(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sumSq(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return s
}

func TestBuildRefuses(t *testing.T) {
	m := mf(t)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		cfg  func(*retrieval.BuildConfig)
		is   error
	}{
		{"no gate queries", ctx, func(c *retrieval.BuildConfig) { c.GateQueries = 0 }, nil},
		{"bad HNSW config", ctx, func(c *retrieval.BuildConfig) { c.HNSW.M = 1 }, ann.ErrInvalidConfig},
		{"unknown backend", ctx, func(c *retrieval.BuildConfig) { c.Backend = "faiss" }, nil},
		{"no backend", ctx, func(c *retrieval.BuildConfig) { c.Backend = "" }, nil},
		{"cancelled", cancelled, func(*retrieval.BuildConfig) {}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := buildConfig()
			tt.cfg(&cfg)
			ix, _, err := retrieval.Build(tt.ctx, m, embeddings, cfg)
			if err == nil || ix != nil || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Errorf("Build(%s) = %v, %v; want nil and an error (is %v)", tt.name, ix, err, tt.is)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	m := mf(t)
	ix, _ := build(t)
	data, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := retrieval.Unmarshal(data)
	if err != nil {
		t.Fatalf("Unmarshal(MarshalBinary()) = %v", err)
	}
	if got.Backend != "hnsw" || got.ANN == nil || got.ANN.Len() != nItems {
		t.Errorf("Unmarshal: Backend %q, ANN %v; want hnsw with %d items", got.Backend, got.ANN, nItems)
	}
	if got.Aug != ix.Aug || got.Embeddings != ix.Embeddings || got.HNSW.Len() != ix.HNSW.Len() {
		t.Errorf("Unmarshal: Aug %+v, Embeddings %q, Len %d; want %+v, %q, %d", got.Aug, got.Embeddings, got.HNSW.Len(), ix.Aug, ix.Embeddings, ix.HNSW.Len())
	}
	for u := range int64(nUsers) {
		p, _ := m.UserVector(u)
		want := ix.Search(p, 20, 64, nil, nil)
		if res := got.Search(p, 20, 64, nil, nil); !slices.Equal(res, want) {
			t.Fatalf("user %d: Search after round trip = %v, want %v", u, res, want)
		}
	}
	again, err := got.MarshalBinary()
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("MarshalBinary(Unmarshal(data)) differs from data (err %v)", err)
	}
}

// artifact builds index bytes from a header and graph, the layout MarshalBinary writes.
func artifact(hdr []byte, graph []byte) []byte {
	b := []byte("casebook.recsys.index/v1\n")
	b = binary.AppendUvarint(b, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, graph...)
}

func TestUnmarshalRefusesCorrupt(t *testing.T) {
	ix, _ := build(t)
	data, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	const magic = len("casebook.recsys.index/v1\n")
	if !bytes.HasPrefix(data, []byte("casebook.recsys.index/v1\n")) {
		t.Fatalf("MarshalBinary starts %q, want the index magic", data[:magic])
	}
	n, w := binary.Uvarint(data[magic:])
	hdrAt := magic + w
	graphAt := hdrAt + int(n)
	var hdr map[string]any
	if err := json.Unmarshal(data[hdrAt:graphAt], &hdr); err != nil {
		t.Fatalf("header %q: %v", data[hdrAt:graphAt], err)
	}
	graph := data[graphAt:]
	withHeader := func(key string, v any) []byte {
		h := map[string]any{}
		for k, x := range hdr {
			h[k] = x
		}
		h[key] = v
		b, _ := json.Marshal(h)
		return artifact(b, graph)
	}
	flip := func(at int) []byte {
		b := slices.Clone(data)
		b[at] ^= 0x5a
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic cut", data[:magic-1]},
		{"magic only", data[:magic]},
		{"flipped magic", flip(0)},
		{"flipped magic version", flip(magic - 2)},
		{"header length only", data[:hdrAt]},
		{"header cut", data[:hdrAt+int(n)/2]},
		{"no graph", data[:graphAt]},
		{"graph cut early", data[:graphAt+10]},
		{"graph cut in half", data[:graphAt+len(graph)/2]},
		{"last byte missing", data[:len(data)-1]},
		{"graph byte flipped", flip(graphAt + len(graph)/2)},
		{"huge header length", append(binary.AppendUvarint([]byte("casebook.recsys.index/v1\n"), 1<<62), data[hdrAt:]...)},
		{"overflowing varint", append([]byte("casebook.recsys.index/v1\n"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
		{"header not JSON", artifact(bytes.Repeat([]byte{'#'}, int(n)), graph)},
		{"factors disagree with graph", withHeader("factors", factors+1)},
		{"negative factors", withHeader("factors", -2)},
		{"phi zero", withHeader("phi", 0)},
		{"phi negative", withHeader("phi", -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := retrieval.Unmarshal(tt.data)
			if !errors.Is(err, retrieval.ErrBadArtifact) || got != nil {
				t.Errorf("Unmarshal(%s) = %v, %v; want nil, ErrBadArtifact", tt.name, got, err)
			}
		})
	}
	// Every truncation point in the header and the graph's start, then a few hundred
	// spread over the graph, is refused without a panic.
	step := max(1, len(graph)/300)
	for cut := 0; cut < len(data); cut++ {
		if cut > graphAt+256 {
			cut += step
			if cut >= len(data) {
				break
			}
		}
		if got, err := retrieval.Unmarshal(data[:cut]); !errors.Is(err, retrieval.ErrBadArtifact) || got != nil {
			t.Fatalf("Unmarshal(first %d of %d bytes) = %v, %v; want nil, ErrBadArtifact", cut, len(data), got, err)
		}
	}
}

func openRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	cfg := fs.DefaultConfig()
	cfg.Dir, cfg.PollInterval = t.TempDir(), 10*time.Millisecond
	s, err := fs.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := registry.New(s, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegister(t *testing.T) {
	m := mf(t)
	ix, rep := build(t)
	cfg := buildConfig()
	reg := openRegistry(t)
	v, err := retrieval.Register(ctx, reg, "recsys-index", ix, rep, cfg, "tester")
	if err != nil {
		t.Fatalf("Register(recall %v) = %v, want nil", rep.Recall, err)
	}
	if v.Family != "ann-index" || v.Number != 1 || v.RegisteredBy != "tester" || !v.Schema.Equal(retrieval.QuerySchema) {
		t.Errorf("Register = family %q, v%d, by %q, schema %v; want ann-index, v1, tester, the query schema", v.Family, v.Number, v.RegisteredBy, v.Schema)
	}
	ms := v.Metrics[retrieval.EvalSet]
	if ms[retrieval.MetricRecall] != rep.Recall || ms["recall_at_10"] != rep.Recall || ms["build_seconds"] != rep.BuildTime.Seconds() || ms["items"] != nItems {
		t.Errorf("Register metrics = %v, want recall_at_10 %v, build_seconds %v, items %d", ms, rep.Recall, rep.BuildTime.Seconds(), nItems)
	}
	wantParams := map[string]string{
		"embeddings":      embeddings,
		"m":               strconv.Itoa(cfg.HNSW.M),
		"ef_construction": strconv.Itoa(cfg.HNSW.EfConstruction),
		"ef_search":       strconv.Itoa(cfg.HNSW.EfSearch),
		"dim":             strconv.Itoa(factors + 2),
		"gate_queries":    strconv.Itoa(cfg.GateQueries),
		"backend":         "hnsw",
	}
	for k, want := range wantParams {
		if got := v.Params[k]; got != want {
			t.Errorf("Register params[%q] = %q, want %q", k, got, want)
		}
	}
	// What was stored decodes to the same index.
	stored, err := reg.Resolve(ctx, "recsys-index", "1")
	if err != nil {
		t.Fatal(err)
	}
	data, err := reg.Artifact(ctx, stored)
	if err != nil {
		t.Fatal(err)
	}
	got, err := retrieval.DecodeVersion(stored, data)
	if err != nil {
		t.Fatalf("DecodeVersion(stored v1) = %v", err)
	}
	for u := int64(0); u < nUsers; u += 7 {
		p, _ := m.UserVector(u)
		if a, b := got.Search(p, 10, 64, nil, nil), ix.Search(p, 10, 64, nil, nil); !slices.Equal(a, b) {
			t.Fatalf("user %d: stored index finds %v, built one %v", u, a, b)
		}
	}
}

func TestRegisterRefusesBelowFloor(t *testing.T) {
	ix, rep := build(t)
	reg := openRegistry(t)
	tests := []struct {
		name   string
		recall float64
	}{
		{"just under the floor", retrieval.RecallFloor - 0.001},
		{"far under", 0.5},
		{"zero", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			low := rep
			low.Recall = tt.recall
			v, err := retrieval.Register(ctx, reg, "low-index", ix, low, buildConfig(), "tester")
			if !errors.Is(err, registry.ErrGateFailed) {
				t.Errorf("Register(recall %v) = v%d, %v; want ErrGateFailed", tt.recall, v.Number, err)
			}
			if vs, err := reg.Versions(ctx, "low-index"); !errors.Is(err, registry.ErrModelNotFound) {
				t.Errorf("after a refused registration: Versions = %d versions, %v; want ErrModelNotFound", len(vs), err)
			}
		})
	}
}

func TestDecodeVersion(t *testing.T) {
	ix, _ := build(t)
	data, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		family string
		data   []byte
		ok     bool
	}{
		{retrieval.Family, data, true},
		{"gbdt", data, false},
		{"", data, false},
		{"lookup-table", data, false},
		{retrieval.Family, []byte("garbage"), false},
	}
	for _, tt := range tests {
		got, err := retrieval.DecodeVersion(registry.Version{Model: "idx", Family: tt.family}, tt.data)
		if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, retrieval.ErrBadArtifact)) || tt.ok != (got != nil) {
			t.Errorf("DecodeVersion(family %q, %d bytes) = %v, %v; want ok %v (else ErrBadArtifact)", tt.family, len(tt.data), got, err, tt.ok)
		}
	}
}

func TestIndexGates(t *testing.T) {
	g := retrieval.IndexGates()
	if err := g.Validate(); err != nil {
		t.Fatalf("IndexGates().Validate() = %v", err)
	}
	if g.Metric != retrieval.MetricRecall || len(g.Floors) != 1 || g.Floors[0].Min != retrieval.RecallFloor {
		t.Errorf("IndexGates() = %+v, want recall gated with floor %v", g, retrieval.RecallFloor)
	}
}

// onSphere returns (q, b) = r·(p, 1)/‖(p, 1)‖: the item whose augmented vector points
// where user p's query does, so it is p's nearest neighbour.
func onSphere(p []float64, r float64) ([]float64, float64) {
	n := math.Sqrt(sumSq(p) + 1)
	q := make([]float64, len(p))
	for i := range p {
		q[i] = r * p[i] / n
	}
	return q, r / n
}

func randomVec(rng *rand.Rand, k int, scale float64) []float64 {
	v := make([]float64, k)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

// New items become the nearest neighbour of their own direction while searches run.
// Run with -race.
func TestAddItemWhileSearching(t *testing.T) {
	m := mf(t)
	ix := fresh(t)
	users := make([][]float64, 0, nUsers)
	for u := range int64(nUsers) {
		p, _ := m.UserVector(u)
		users = append(users, p)
	}
	stop := make(chan struct{})
	var searches atomic.Int64
	started := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var qbuf []float32
			var res []ann.Result
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res = ix.Search(users[i%len(users)], 10, 64, qbuf, res[:0])
				if len(res) != 10 || !slices.IsSortedFunc(res, func(a, b ann.Result) int { return -cmpF32(a.Score, b.Score) }) {
					t.Errorf("concurrent Search = %v, want 10 results nearest first", res)
					return
				}
				searches.Add(1)
				once.Do(func() { close(started) })
			}
		})
	}
	<-started // the adds begin while searches are running
	rng := rand.New(rand.NewPCG(3, 4))
	type added struct {
		id   int64
		p, q []float64
		b    float64
	}
	var news []added
	for i := range 40 {
		p := randomVec(rng, factors, 1)
		q, b := onSphere(p, 0.999*ix.Aug.Phi)
		id := int64(1_000_000 + i)
		clamped, err := ix.AddItem(id, q, b)
		if err != nil || clamped {
			t.Fatalf("AddItem(%d) = %v, %v; want false, nil", id, clamped, err)
		}
		news = append(news, added{id, p, q, b})
		if res := ix.Search(p, 1, 128, nil, nil); len(res) != 1 || res[0].ID != id {
			t.Errorf("Search(direction of new item %d) = %v, want it first", id, res)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d searches ran alongside %d adds", searches.Load(), len(news))
	if ix.HNSW.Len() != nItems+len(news) {
		t.Errorf("HNSW.Len() = %d, want %d", ix.HNSW.Len(), nItems+len(news))
	}
	for _, a := range news {
		if res := ix.Search(a.p, 1, 128, nil, nil); len(res) != 1 || res[0].ID != a.id {
			t.Errorf("after the adds: Search(direction of %d) = %v, want it first", a.id, res)
		}
		q, b, ok := ix.AddedItem(a.id)
		if !ok || !slices.Equal(q, a.q) || b != a.b {
			t.Errorf("AddedItem(%d) = %v, %v, %v; want %v, %v, true", a.id, q, b, ok, a.q, a.b)
		}
	}
	if _, _, ok := ix.AddedItem(0); ok {
		t.Error("AddedItem(0) = true for an item of the build, want false")
	}
}

func TestAddItem(t *testing.T) {
	ix := fresh(t)
	rng := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name        string
		id          int64
		vec         []float64
		bias        float64
		wantClamped bool
		wantErr     bool
	}{
		{"inside the sphere", 2_000_000, randomVec(rng, factors, 1e-3), 0, false, false},
		{"longer than Phi is clamped", 2_000_001, randomVec(rng, factors, 10*ix.Aug.Phi), 0, true, false},
		{"bias beyond Phi is clamped", 2_000_002, make([]float64, factors), 2 * ix.Aug.Phi, true, false},
		{"too short", 2_000_003, make([]float64, factors-1), 0, false, true},
		{"too long", 2_000_004, make([]float64, factors+1), 0, false, true},
		{"an id of the build", 0, randomVec(rng, factors, 1e-3), 0, false, true},
		{"again", 2_000_000, randomVec(rng, factors, 1e-3), 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ix.HNSW.Len()
			clamped, err := ix.AddItem(tt.id, tt.vec, tt.bias)
			if clamped != tt.wantClamped || (err != nil) != tt.wantErr {
				t.Fatalf("AddItem(%d, ‖v‖ %.3g, bias %v) = %v, %v; want clamped %v, error %v", tt.id, math.Sqrt(sumSq(tt.vec)), tt.bias, clamped, err, tt.wantClamped, tt.wantErr)
			}
			want := before + 1
			if tt.wantErr {
				want = before
			}
			if ix.HNSW.Len() != want {
				t.Errorf("AddItem(%d): HNSW.Len() = %d, want %d", tt.id, ix.HNSW.Len(), want)
			}
			if _, _, ok := ix.AddedItem(tt.id); tt.wantErr && tt.id == 0 && ok {
				t.Errorf("AddedItem(%d) after a refused add = true, want false", tt.id)
			}
		})
	}
}

// An index loaded from its artifact (as serving loads it) takes new items too.
func TestAddItemAfterUnmarshal(t *testing.T) {
	ix, _ := build(t)
	data, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := retrieval.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 10 {
		p := randomVec(rng, factors, 1)
		q, b := onSphere(p, 0.999*loaded.Aug.Phi)
		id := int64(3_000_000 + i)
		if _, err := loaded.AddItem(id, q, b); err != nil {
			t.Fatalf("AddItem(%d) on a loaded index = %v", id, err)
		}
		if res := loaded.Search(p, 1, 128, nil, nil); len(res) != 1 || res[0].ID != id {
			t.Errorf("loaded index: Search(direction of new item %d) = %v, want it first", id, res)
		}
	}
	// The artifact does not carry the added items.
	if again, err := retrieval.Unmarshal(data); err != nil || again.HNSW.Len() != nItems {
		t.Errorf("Unmarshal(original) after adds to a copy: Len %d, %v; want %d", again.HNSW.Len(), err, nItems)
	}
}

// The coder backend searches and takes new items, but has no artifact: it cannot be
// registered.
func TestCoderBackend(t *testing.T) {
	m := mf(t)
	cfg := buildConfig()
	cfg.Backend = "coder"
	ix, rep, err := retrieval.Build(ctx, m, embeddings, cfg)
	if err != nil {
		t.Fatalf("Build(coder) = %v", err)
	}
	if ix.Backend != "coder" || ix.HNSW != nil || ix.ANN == nil || ix.ANN.Len() != nItems || rep.Items != nItems {
		t.Fatalf("Build(coder): Backend %q, HNSW %v, ANN len %d, Items %d; want coder, nil, %d, %d", ix.Backend, ix.HNSW, ix.ANN.Len(), rep.Items, nItems, nItems)
	}
	if !(rep.Recall > 0 && rep.Recall <= 1) {
		t.Errorf("Build(coder): Recall = %v, want in (0, 1]", rep.Recall)
	}
	p, _ := m.UserVector(3)
	// The library's search is greedy and not reproducible (see ann.Coder), so only the
	// shape of its answer is checked, not which items it finds.
	if res := ix.Search(p, 10, 64, nil, nil); len(res) == 0 || len(res) > 10 || !slices.IsSortedFunc(res, func(a, b ann.Result) int { return -cmpF32(a.Score, b.Score) }) {
		t.Errorf("coder Search = %v, want 1 to 10 results nearest first", res)
	}
	q, b := onSphere(p, 0.999*ix.Aug.Phi)
	if _, err := ix.AddItem(4_000_000, q, b); err != nil {
		t.Fatalf("coder AddItem = %v", err)
	}
	if _, _, ok := ix.AddedItem(4_000_000); !ok || ix.ANN.Len() != nItems+1 {
		t.Errorf("coder AddItem: AddedItem %v, Len %d; want true, %d", ok, ix.ANN.Len(), nItems+1)
	}
	if data, err := ix.MarshalBinary(); err == nil {
		t.Errorf("coder MarshalBinary = %d bytes, nil; want an error", len(data))
	}
	reg := openRegistry(t)
	rep.Recall = 1
	if v, err := retrieval.Register(ctx, reg, "coder-index", ix, rep, cfg, "tester"); err == nil {
		t.Errorf("Register(coder) = v%d, nil; want an error", v.Number)
	}
	if _, err := reg.Versions(ctx, "coder-index"); !errors.Is(err, registry.ErrModelNotFound) {
		t.Errorf("after Register(coder): Versions err %v, want ErrModelNotFound", err)
	}
}

// SearchQueryExcept leaves out the given items: on our HNSW with a beam over the whole
// index it is the factorization's exact top k without them; on coder/hnsw (searched wider,
// then filtered) it returns none of them.
func TestSearchQueryExcept(t *testing.T) {
	m := mf(t)
	ix, _ := build(t)
	p, _ := m.UserVector(3)
	top := exactTop(m, 3, 30)
	except := []int64{top[0], top[2], top[3], top[7]}
	slices.Sort(except)
	var want []int64
	for _, id := range top {
		if !slices.Contains(except, id) && len(want) < 10 {
			want = append(want, id)
		}
	}
	q := ix.Aug.Query(p, nil)
	if got := resultIDs(ix.SearchQueryExcept(q, 10, nItems, except, nil)); !slices.Equal(got, want) {
		t.Errorf("hnsw SearchQueryExcept(top 10 without %v) = %v, want %v", except, got, want)
	}
	cfg := buildConfig()
	cfg.Backend = "coder"
	cix, _, err := retrieval.Build(ctx, m, embeddings, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := cix.SearchQueryExcept(q, 10, 64, except, nil)
	if len(got) == 0 || len(got) > 10 {
		t.Errorf("coder SearchQueryExcept = %d results, want 1 to 10", len(got))
	}
	for _, r := range got {
		if slices.Contains(except, r.ID) {
			t.Errorf("coder SearchQueryExcept returned excluded item %d", r.ID)
		}
	}
}
