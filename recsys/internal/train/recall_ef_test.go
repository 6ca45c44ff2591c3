package train_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/recsys/internal/ann"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

// TestServedRecallVsEf measures, on a registry `recsys serve --size large --registry DIR`
// wrote (CASEBOOK_RECSYS_REGISTRY=DIR; skipped without it), how many of each user's exact
// top k items the served index returns at each efSearch: the index champion, plus the
// never-rated items serve adds from their genres, so the graph is the one requests search.
// Its output is the evidence for the serving efSearch (docs/benchmarks.md); the µs per
// search (wall time, recall's bookkeeping included) are only a guide on a busy machine.
//
//	CASEBOOK_RECSYS_REGISTRY=/tmp/reg go test -run ServedRecallVsEf -v -timeout 30m ./recsys/internal/train/
func TestServedRecallVsEf(t *testing.T) {
	dir := os.Getenv("CASEBOOK_RECSYS_REGISTRY")
	if dir == "" {
		t.Skip("CASEBOOK_RECSYS_REGISTRY not set")
	}
	ctx := context.Background()
	fc := regfs.DefaultConfig()
	fc.Dir = dir
	st, err := regfs.Open(fc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	v, err := reg.Resolve(ctx, "recsys-index", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	data, err := reg.Artifact(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := retrieval.DecodeVersion(v, data)
	if err != nil {
		t.Fatal(err)
	}
	model, _, err := reg.Load(ctx, "recsys-mf", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	mf := model.(*ml.MF)
	// The never-rated items, as recsys serve adds them (the large simulation, seed 1).
	s, err := sim.New(sim.LargeConfig())
	if err != nil {
		t.Fatal(err)
	}
	genres := map[int64]uint32{}
	for _, it := range s.Items() {
		genres[it.ID] = it.Genres
	}
	cs := train.NewColdStart(mf, genres)
	for _, it := range s.Items() {
		if _, ok := mf.ItemVector(it.ID); ok {
			continue
		}
		vec, b := cs.Vector(it.Genres)
		if _, err := ix.AddItem(it.ID, vec, b); err != nil {
			t.Fatal(err)
		}
	}
	// Exact search over the same augmented vectors.
	exact, err := ann.NewExact(ix.Aug.Dim())
	if err != nil {
		t.Fatal(err)
	}
	ids, vecs, biases := mf.ItemVectors()
	for i, id := range ids {
		x, _ := ix.Aug.Item(vecs[i], biases[i], nil)
		if err := exact.Add(id, x); err != nil {
			t.Fatal(err)
		}
	}
	for _, it := range s.Items() {
		if vec, b, ok := ix.AddedItem(it.ID); ok {
			x, _ := ix.Aug.Item(vec, b, nil)
			if err := exact.Add(it.ID, x); err != nil {
				t.Fatal(err)
			}
		}
	}
	queries := retrieval.UserQueries(mf, ix.Aug, 500, 7)
	t.Logf("index %s v%d: %d items searched (%d in the artifact), %d users' queries", v.Model, v.Number, ix.ANN.Len(), len(ids), len(queries))
	for _, k := range []int{200, 250, 300, 400} {
		gt, err := ann.GroundTruth(ctx, exact, queries, k)
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("recall@%d:", k)
		for _, ef := range []int{k, 300, 400, 600} {
			if ef < k {
				continue
			}
			var hit, n int
			var res []ann.Result
			t0 := time.Now()
			for qi, q := range queries {
				res = ix.SearchQuery(q, k, ef, res[:0])
				in := map[int64]bool{}
				for _, r := range res {
					in[r.ID] = true
				}
				for _, g := range gt[qi][:min(k, len(gt[qi]))] {
					n++
					if in[g.ID] {
						hit++
					}
				}
			}
			line += fmt.Sprintf("  ef %d %.4f (%.0f µs)", ef, float64(hit)/float64(n), float64(time.Since(t0).Microseconds())/float64(len(queries)))
		}
		t.Log(line)
	}
}
