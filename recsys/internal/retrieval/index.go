package retrieval

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/recsys/internal/ann"
)

// Family is the registry family of an index artifact.
const Family = "ann-index"

// MetricRecall is the gate's metric: recall@10 against exact search on held-out queries.
const MetricRecall = "recall_at_10"

// EvalSet names the metrics an index is registered with.
const EvalSet = "holdout"

// RecallFloor is the bar an index must reach to be registered at all.
const RecallFloor = 0.95

// QuerySchema describes what a search takes: a user's embedding. The registry needs a
// schema for every artifact; an index's is the query.
var QuerySchema = ml.Schema{Features: []ml.Feature{{Name: "user_embedding", Type: ml.Float}}}

// ErrBadArtifact marks index bytes that cannot be decoded.
var ErrBadArtifact = errors.New("malformed index artifact")

// Index is a built, searchable retrieval index: the ANN graph over augmented item vectors,
// the augmenter that built it, and the factorization version whose embeddings it holds.
type Index struct {
	Aug Augmenter
	// Embeddings names the factorization model version ("recsys-mf/v3") whose item vectors
	// the index holds and whose user vectors must query it.
	Embeddings string
	// Backend names the ANN implementation: "hnsw" (ours, the one with an artifact format)
	// or "coder" (github.com/coder/hnsw, measured and gated like any other).
	Backend string
	HNSW    *ann.HNSW // the hnsw backend
	ANN     ann.Index // either backend

	// Cold-start items added after the build, with their factorization-space vectors so the
	// ranker can score them like any other item.
	mu     sync.RWMutex
	extra  map[int64]int
	vecs   [][]float64
	biases []float64
}

// BuildConfig sizes an index build and its gate.
type BuildConfig struct {
	// Backend is "hnsw" (default) or "coder".
	Backend string
	HNSW    ann.HNSWConfig
	Coder   ann.CoderConfig
	// GateQueries is how many user queries the recall gate measures (drawn with Seed).
	GateQueries int
	Seed        uint64
}

// DefaultBuildConfig is M 16, efConstruction 200, efSearch 128, 1,000 gate queries.
func DefaultBuildConfig() BuildConfig {
	c := ann.DefaultHNSWConfig()
	c.EfSearch = 128
	return BuildConfig{Backend: "hnsw", HNSW: c, Coder: ann.DefaultCoderConfig(), GateQueries: 1000, Seed: 42}
}

// Validate reports out-of-range settings.
func (c BuildConfig) Validate() error {
	if c.Backend != "hnsw" && c.Backend != "coder" {
		return fmt.Errorf("retrieval: backend %q, want hnsw or coder", c.Backend)
	}
	if c.GateQueries < 1 {
		return fmt.Errorf("retrieval: GateQueries = %d, want ≥ 1", c.GateQueries)
	}
	return c.HNSW.Validate()
}

// BuildReport is what a build measured.
type BuildReport struct {
	Items          int
	Dim            int
	BuildTime      time.Duration
	Recall         float64 // recall@10 against exact search, at the configured efSearch
	BytesPerVector float64
	Clamped        int // items scaled down to Phi (none at build time)
}

// Build indexes every item of m and measures recall@10 against an exact scan on queries
// made from the vectors of users drawn from m (an index is built from items only, so every
// user query is held out from the build).
func Build(ctx context.Context, m *ml.MF, embeddings string, cfg BuildConfig) (*Index, BuildReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, BuildReport{}, err
	}
	ids, vecs, biases := m.ItemVectors()
	aug, err := NewAugmenter(vecs, biases)
	if err != nil {
		return nil, BuildReport{}, err
	}
	ix := &Index{Aug: aug, Embeddings: embeddings, Backend: cfg.Backend}
	var h ann.Index
	if cfg.Backend == "coder" {
		h, err = ann.NewCoder(aug.Dim(), cfg.Coder)
	} else {
		ix.HNSW, err = ann.NewHNSW(aug.Dim(), cfg.HNSW)
		h = ix.HNSW
	}
	if err != nil {
		return nil, BuildReport{}, err
	}
	ix.ANN = h
	exact, err := ann.NewExact(aug.Dim())
	if err != nil {
		return nil, BuildReport{}, err
	}
	start := time.Now()
	var buf []float32
	for i, id := range ids {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, BuildReport{}, fmt.Errorf("build index: %w", err)
			}
		}
		buf, _ = aug.Item(vecs[i], biases[i], buf)
		if err := h.Add(id, buf); err != nil {
			return nil, BuildReport{}, fmt.Errorf("build index: item %d: %w", id, err)
		}
	}
	rep := BuildReport{Items: len(ids), Dim: aug.Dim(), BuildTime: time.Since(start)}
	for i, id := range ids {
		buf, _ = aug.Item(vecs[i], biases[i], buf)
		if err := exact.Add(id, buf); err != nil {
			return nil, BuildReport{}, err
		}
	}
	queries := UserQueries(m, aug, cfg.GateQueries, cfg.Seed)
	rep.Recall, err = ann.Recall(ctx, h, exact, queries, 10)
	if err != nil {
		return nil, BuildReport{}, err
	}
	if ix.HNSW != nil {
		rep.BytesPerVector = float64(ix.HNSW.MemoryBytes()) / float64(max(1, len(ids)))
	}
	return ix, rep, nil
}

// UserQueries draws up to n users of m (without replacement, seeded) and returns their
// augmented query vectors.
func UserQueries(m *ml.MF, aug Augmenter, n int, seed uint64) [][]float32 {
	users := m.UserIDs()
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b9))
	rng.Shuffle(len(users), func(i, j int) { users[i], users[j] = users[j], users[i] })
	users = users[:min(n, len(users))]
	out := make([][]float32, 0, len(users))
	for _, u := range users {
		p, _ := m.UserVector(u)
		out = append(out, aug.Query(p, nil))
	}
	return out
}

// Search returns up to k items nearest to the user vector p, nearest first.
func (ix *Index) Search(p []float64, k, ef int, qbuf []float32, dst []ann.Result) []ann.Result {
	return ix.SearchQuery(ix.Aug.Query(p, qbuf), k, ef, dst)
}

// SearchQuery is Search for an already augmented query (Aug.Query).
func (ix *Index) SearchQuery(qbuf []float32, k, ef int, dst []ann.Result) []ann.Result {
	if ix.HNSW == nil {
		return ix.ANN.Search(qbuf, k, dst)
	}
	return ix.HNSW.SearchEf(qbuf, k, ef, dst)
}

// SearchQueryExcept returns up to k items nearest to the augmented query that are not in
// except (sorted ascending), nearest first: the HNSW backend skips them inside one search
// of beam max(ef, k) (ann.HNSW.SearchEfExcept); another backend searches for
// k + min(len(except), k) and drops them, so it may return fewer than k.
func (ix *Index) SearchQueryExcept(qbuf []float32, k, ef int, except []int64, dst []ann.Result) []ann.Result {
	if ix.HNSW != nil {
		return ix.HNSW.SearchEfExcept(qbuf, k, ef, except, dst)
	}
	start := len(dst)
	dst = ix.ANN.Search(qbuf, k+min(len(except), k), dst)
	kept := dst[:start]
	for _, r := range dst[start:] {
		if _, ok := slices.BinarySearch(except, r.ID); !ok && len(kept)-start < k {
			kept = append(kept, r)
		}
	}
	return kept
}

// AddItem inserts a new item (a cold start: its vector derived from its attributes) while
// searches run. Its factorization-space vector is stored before the item becomes
// searchable, so whoever finds it can also score it. It returns whether the vector had to
// be scaled down to fit the sphere.
func (ix *Index) AddItem(id int64, vec []float64, bias float64) (clamped bool, err error) {
	if len(vec) != ix.Aug.Factors {
		return false, fmt.Errorf("add item %d: vector has %d components, want %d", id, len(vec), ix.Aug.Factors)
	}
	x, clamped := ix.Aug.Item(vec, bias, nil)
	ix.mu.Lock()
	if ix.extra == nil {
		ix.extra = make(map[int64]int)
	}
	if _, dup := ix.extra[id]; dup {
		ix.mu.Unlock()
		return false, fmt.Errorf("add item %d: %w", id, ann.ErrDuplicateID)
	}
	ix.extra[id] = len(ix.vecs)
	ix.vecs = append(ix.vecs, append([]float64(nil), vec...))
	ix.biases = append(ix.biases, bias)
	ix.mu.Unlock()
	if err := ix.ANN.Add(id, x); err != nil {
		ix.mu.Lock()
		delete(ix.extra, id) // the vector stays in the slices, unreachable
		ix.mu.Unlock()
		return false, fmt.Errorf("add item %d: %w", id, err)
	}
	return clamped, nil
}

// AddedItem returns the factorization-space vector and bias of an item added after the
// build, or false.
func (ix *Index) AddedItem(id int64) ([]float64, float64, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	i, ok := ix.extra[id]
	if !ok {
		return nil, 0, false
	}
	return ix.vecs[i], ix.biases[i], true
}

// artifactMagic starts every index artifact; bump the version when the layout changes.
const artifactMagic = "casebook.recsys.index/v1\n"

type artifactHeader struct {
	Factors    int     `json:"factors"`
	Phi        float64 `json:"phi"`
	Embeddings string  `json:"embeddings"`
}

// MarshalBinary encodes the index built from the factorization (items added later are not
// part of the artifact: a rebuild includes them).
func (ix *Index) MarshalBinary() ([]byte, error) {
	if ix.HNSW == nil {
		return nil, fmt.Errorf("index: the %s backend has no artifact format here; only hnsw indexes are stored", ix.Backend)
	}
	hdr, err := json.Marshal(artifactHeader{Factors: ix.Aug.Factors, Phi: ix.Aug.Phi, Embeddings: ix.Embeddings})
	if err != nil {
		return nil, err
	}
	graph, err := ix.HNSW.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(artifactMagic)
	b.Write(binary.AppendUvarint(nil, uint64(len(hdr))))
	b.Write(hdr)
	b.Write(graph)
	return b.Bytes(), nil
}

// Unmarshal decodes an index artifact. It never panics on corrupt input.
func Unmarshal(data []byte) (*Index, error) {
	if !bytes.HasPrefix(data, []byte(artifactMagic)) {
		return nil, fmt.Errorf("%w: not a %q artifact", ErrBadArtifact, artifactMagic[:len(artifactMagic)-1])
	}
	rest := data[len(artifactMagic):]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)-w) {
		return nil, fmt.Errorf("%w: header length", ErrBadArtifact)
	}
	var hdr artifactHeader
	if err := json.Unmarshal(rest[w:w+int(n)], &hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadArtifact, err)
	}
	h, err := ann.LoadHNSW(rest[w+int(n):])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArtifact, err)
	}
	if h.Dim() != hdr.Factors+2 || !(hdr.Phi > 0) {
		return nil, fmt.Errorf("%w: graph of dimension %d for %d factors (phi %v)", ErrBadArtifact, h.Dim(), hdr.Factors, hdr.Phi)
	}
	return &Index{Aug: Augmenter{Factors: hdr.Factors, Phi: hdr.Phi}, Embeddings: hdr.Embeddings, Backend: "hnsw", HNSW: h, ANN: h}, nil
}

// Register stores a built index as a registry version, refused (nothing stored) if its
// recall is under RecallFloor. Its card carries the recall, the build parameters and time.
func Register(ctx context.Context, reg *registry.Registry, model string, ix *Index, rep BuildReport, cfg BuildConfig, actor string) (registry.Version, error) {
	// The floor first: an index under it is refused before anything is encoded or stored.
	floor := registry.Floor{EvalSet: EvalSet, Metric: MetricRecall, Min: RecallFloor}
	if res := floor.Check(registry.Version{Metrics: map[string]ml.Metrics{EvalSet: {MetricRecall: rep.Recall}}}); !res.Passed {
		return registry.Version{}, fmt.Errorf("register index (%s backend): %w", ix.Backend, &registry.FloorError{Model: model, Results: []registry.GateResult{res}})
	}
	data, err := ix.MarshalBinary()
	if err != nil {
		return registry.Version{}, fmt.Errorf("register index: %w", err)
	}
	v, _, err := reg.Register(ctx, registry.RegisterRequest{
		Data:   data,
		Floors: []registry.Floor{floor},
		Version: registry.Version{
			Model: model, Family: Family, Schema: QuerySchema,
			Metrics: map[string]ml.Metrics{EvalSet: {
				MetricRecall:       rep.Recall,
				"build_seconds":    rep.BuildTime.Seconds(),
				"bytes_per_vector": rep.BytesPerVector,
				"items":            float64(rep.Items),
			}},
			DataFingerprint: registry.Sum([]byte(ix.Embeddings)),
			CodeVersion:     runtime.Version(),
			RegisteredBy:    actor,
			Params: map[string]string{
				"embeddings":      ix.Embeddings,
				"m":               strconv.Itoa(cfg.HNSW.M),
				"ef_construction": strconv.Itoa(cfg.HNSW.EfConstruction),
				"ef_search":       strconv.Itoa(cfg.HNSW.EfSearch),
				"dim":             strconv.Itoa(rep.Dim),
				"backend":         ix.Backend,
				"gate_queries":    strconv.Itoa(cfg.GateQueries),
				"gate":            fmt.Sprintf("recall@10 ≥ %.2f against exact search", RecallFloor),
			},
			IntendedUse: "candidate retrieval for the recommender: maximum inner product through cosine HNSW",
			KnownLimits: []string{"items added after the build are served but not in this artifact; a rebuild includes them"},
		},
	})
	if err != nil {
		return registry.Version{}, fmt.Errorf("register index: %w", err)
	}
	return v, nil
}

// IndexGates are the promotion gates of an index alias: the recall floor, and no more than
// a 0.02 drop in recall against the version it replaces.
func IndexGates() registry.Gates {
	return registry.Gates{EvalSet: EvalSet, Metric: MetricRecall, MinImprovement: -0.02,
		Floors: []registry.Floor{{EvalSet: EvalSet, Metric: MetricRecall, Min: RecallFloor}}}
}

// DecodeVersion is the registry.Decoder serving uses to follow an index alias.
func DecodeVersion(v registry.Version, data []byte) (*Index, error) {
	if v.Family != Family {
		return nil, fmt.Errorf("%w: version is a %q, not an index", ErrBadArtifact, v.Family)
	}
	return Unmarshal(data)
}
