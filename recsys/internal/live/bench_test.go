package live

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"

	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

var (
	benchOnce sync.Once
	benchSys  *System
	benchErr  error
)

// benchSystem fits, publishes and starts the recommender on the default (ML-100K-shaped)
// simulation, once per benchmark binary.
func benchSystem(b *testing.B) *System {
	benchOnce.Do(func() {
		ctx := context.Background()
		s, err := sim.New(sim.DefaultConfig())
		if err != nil {
			benchErr = err
			return
		}
		xs, err := s.Generate(ctx)
		if err != nil {
			benchErr = err
			return
		}
		rs := sim.Ratings(xs)
		m, err := train.Fit(ctx, rs, train.DefaultConfig())
		if err != nil {
			benchErr = err
			return
		}
		fc := regfs.DefaultConfig()
		fc.Dir = b.TempDir()
		st, err := regfs.Open(fc)
		if err != nil {
			benchErr = err
			return
		}
		reg, err := registry.New(st, registry.DefaultConfig())
		if err != nil {
			benchErr = err
			return
		}
		if _, err := Publish(ctx, reg, m, retrieval.DefaultBuildConfig(), "bench", nil); err != nil {
			benchErr = err
			return
		}
		end := m.Interactions[len(m.Interactions)-1].Time
		benchSys, benchErr = Start(ctx, reg, m, memory.New(m.Features), recommend.DefaultConfig(), func() time.Time { return end }, nil)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchSys
}

// BenchmarkRecommend is one request through the whole path (retrieval from 1,632 items,
// online features, the ranker, no re-rank) on one goroutine: CPU per request. cpu-ns/op
// is the process's CPU time (user + system, getrusage) per request, which a busy machine
// inflates far less than ns/op (wall time).
func BenchmarkRecommend(b *testing.B) {
	sys := benchSystem(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		if _, err := sys.Service.Recommend(ctx, recommend.Request{User: int64(i % 943), K: 10}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cputime.Process()-c0)/float64(b.N), "cpu-ns/op")
}
