package ann

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
)

// split generates n data vectors and nq queries from one draw, so clustered queries come
// from the same clusters as the data.
func split(t testing.TB, gen func(total int) ([][]float32, error), n, nq int) (data, queries [][]float32) {
	t.Helper()
	all, err := gen(n + nq)
	if err != nil {
		t.Fatal(err)
	}
	return all[:n], all[n:]
}

// fixture is an index with its data, queries and exact answers, built once per test binary
// when several tests share it.
type fixture struct {
	data, queries [][]float32
	exact         *Exact
	truth         [][]Result
	hnsw          *HNSW
}

func buildFixture(data, queries [][]float32, cfg HNSWConfig) (*fixture, error) {
	dim := len(data[0])
	f := &fixture{data: data, queries: queries}
	var err error
	if f.exact, err = NewExact(dim); err != nil {
		return nil, err
	}
	if f.hnsw, err = NewHNSW(dim, cfg); err != nil {
		return nil, err
	}
	for i, v := range data {
		if err := f.exact.Add(int64(i), v); err != nil {
			return nil, err
		}
		if err := f.hnsw.Add(int64(i), v); err != nil {
			return nil, err
		}
	}
	if f.truth, err = GroundTruth(context.Background(), f.exact, queries, 10); err != nil {
		return nil, err
	}
	return f, nil
}

func mustFixture(t testing.TB, data, queries [][]float32, cfg HNSWConfig) *fixture {
	t.Helper()
	f, err := buildFixture(data, queries, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// uniformFixture is 20,000 × 64 uniform vectors (5,000 under -race) in our HNSW with the
// default config, plus 200 queries: shared by the ef sweep, the memory estimate and the
// coder comparison, so it is built once.
var uniformFixture = sync.OnceValues(func() (*fixture, error) {
	n := 20000
	if raceEnabled {
		n = 5000
	}
	all, err := Uniform(n+200, 64, 3)
	if err != nil {
		return nil, err
	}
	return buildFixture(all[:n], all[n:], DefaultHNSWConfig())
})

func mustUniformFixture(t testing.TB) *fixture {
	t.Helper()
	f, err := uniformFixture()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHNSWRecallClustered(t *testing.T) {
	n := 10000
	if raceEnabled {
		n = 3000
	}
	data, queries := split(t, func(total int) ([][]float32, error) { return Clustered(total, 32, 0, 0, 5) }, n, 300)
	f := mustFixture(t, data, queries, DefaultHNSWConfig())
	got, err := RecallAgainst(context.Background(), f.hnsw, f.truth, queries, 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recall@10 on %d clustered × 32, default config (ef %d): %.4f", n, DefaultHNSWConfig().EfSearch, got)
	if got < 0.95 {
		t.Errorf("recall@10 = %.4f, want ≥ 0.95", got)
	}
}

func TestHNSWRecallRisesWithEf(t *testing.T) {
	f := mustUniformFixture(t)
	prev := -1.0
	for _, ef := range []int{10, 40, 160} {
		got, err := RecallAgainst(context.Background(), efSearcher{f.hnsw, ef}, f.truth, f.queries, 10)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("uniform %d × 64: ef %d recall@10 %.4f", len(f.data), ef, got)
		if got <= prev {
			t.Errorf("recall@10 at ef %d = %.4f, want above %.4f (the smaller ef)", ef, got, prev)
		}
		prev = got
	}
	if prev < 0.85 {
		t.Errorf("recall@10 at ef 160 = %.4f, want ≥ 0.85", prev)
	}
}

// efSearcher is an Index that searches an HNSW at a fixed ef.
type efSearcher struct {
	*HNSW
	ef int
}

func (e efSearcher) Search(q []float32, k int, dst []Result) []Result {
	return e.SearchEf(q, k, e.ef, dst)
}

func TestHNSWDeterministic(t *testing.T) {
	data, err := Clustered(1500, 8, 10, 0, 9)
	if err != nil {
		t.Fatal(err)
	}
	build := func(seed uint64) []byte {
		cfg := DefaultHNSWConfig()
		cfg.Seed = seed
		h, err := NewHNSW(8, cfg)
		if err != nil {
			t.Fatal(err)
		}
		mustAddAll(t, h, data)
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := build(1), build(1), build(2)
	if !bytes.Equal(a, b) {
		t.Error("two builds with seed 1 differ")
	}
	if bytes.Equal(a, c) {
		t.Error("builds with seeds 1 and 2 are identical")
	}
}

func TestHNSWConfigValidate(t *testing.T) {
	ok := DefaultHNSWConfig()
	for _, tc := range []struct {
		name  string
		edit  func(*HNSWConfig)
		valid bool
	}{
		{"default", func(*HNSWConfig) {}, true},
		{"M 2", func(c *HNSWConfig) { c.M = 2 }, true},
		{"M 1", func(c *HNSWConfig) { c.M = 1 }, false},
		{"M huge", func(c *HNSWConfig) { c.M = 1 << 20 }, false},
		{"EfConstruction 0", func(c *HNSWConfig) { c.EfConstruction = 0 }, false},
		{"EfSearch 0", func(c *HNSWConfig) { c.EfSearch = 0 }, false},
		{"negative capacity", func(c *HNSWConfig) { c.InitialCapacity = -1 }, false},
		{"zero capacity", func(c *HNSWConfig) { c.InitialCapacity = 0 }, true},
	} {
		cfg := ok
		tc.edit(&cfg)
		err := cfg.Validate()
		if (err == nil) != tc.valid || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("%s: Validate() = %v, want valid %v", tc.name, err, tc.valid)
		}
		if _, err := NewHNSW(4, cfg); (err == nil) != tc.valid {
			t.Errorf("%s: NewHNSW = %v, want valid %v", tc.name, err, tc.valid)
		}
	}
	if _, err := NewHNSW(0, ok); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewHNSW(dim 0) = %v, want ErrInvalidConfig", err)
	}
}

func TestHNSWGrowsFromZeroCapacity(t *testing.T) {
	cfg := DefaultHNSWConfig()
	cfg.InitialCapacity = 0
	h, err := NewHNSW(8, cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := Uniform(3000, 8, 4)
	if err != nil {
		t.Fatal(err)
	}
	mustAddAll(t, h, data)
	for _, i := range []int{0, 1023, 1024, 2999} {
		if got := h.SearchEf(data[i], 1, 100, nil); len(got) != 1 || got[0].ID != int64(i) {
			t.Errorf("SearchEf(vector %d, 1) = %v, want itself", i, got)
		}
	}
}

func TestHNSWMemoryBytes(t *testing.T) {
	f := mustUniformFixture(t)
	per := float64(f.hnsw.MemoryBytes()) / float64(f.hnsw.Len())
	t.Logf("%.0f bytes per 64-d vector at %d vectors", per, f.hnsw.Len())
	// The vector (256 B) and layer-0 links (2M × 4 = 128 B) dominate; doubling growth
	// leaves up to half the slots unused.
	if per < 256+128 || per > 2*(256+128+64) {
		t.Errorf("MemoryBytes()/Len() = %.0f, want between %d and %d", per, 256+128, 2*(256+128+64))
	}
}
