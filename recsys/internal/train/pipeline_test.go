package train_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/recsys/internal/rank"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

// The recommender's pipelines register what Fit trained when it clears the bar (the
// factorization beats popularity on its holdout, the ranker is not worse than the order
// it re-ranks), and refuse a shuffled factorization and a ranker trained on inverted
// labels: their versions are registered with their metrics, the champions stay.
func TestPipelinesGate(t *testing.T) {
	// A world with tastes to learn: on the 80 × 120 log popularity is as good as any
	// factorization.
	c := sim.DefaultConfig()
	c.Users, c.Items, c.Interactions, c.MaxPerUser = 300, 600, 12000, 100
	s, err := sim.New(c)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := s.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tc := smallConfig()
	tc.Embeddings = "ials" // the default; BPR at smallConfig's 10 epochs is weak
	m, err := train.Fit(ctx, sim.Ratings(xs), tc)
	if err != nil {
		t.Fatal(err)
	}
	fc := fs.DefaultConfig()
	fc.Dir = t.TempDir()
	st, err := fs.Open(fc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	pc := pipeline.DefaultConfig()
	pc.CheckpointDir = t.TempDir()
	cfg := train.PipelineConfig{Gates: train.DefaultGates(), Actor: "test", Alias: registry.Champion}
	run := func(m *train.Models, define func(*train.Models, train.PipelineConfig) (pipeline.Definition, error)) pipeline.Result {
		t.Helper()
		def, err := define(m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pipeline.New(def, reg, pc)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Run(ctx, pipeline.Trigger{Kind: pipeline.OnDemand, Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	champion := func(model string) int {
		v, err := reg.Resolve(ctx, model, registry.Champion)
		if err != nil {
			t.Fatal(err)
		}
		return v.Number
	}

	good := run(m, train.MFDefinition)
	h := good.Metrics["holdout"]
	if !good.Moved || h[train.MetricLiftOverPopularity] < cfg.Gates.MinLift {
		t.Fatalf("trained factorization: moved %v, holdout %v, gates %+v; want promoted with lift ≥ %v", good.Moved, h, good.Gates, cfg.Gates.MinLift)
	}
	mm, _, err := reg.Load(ctx, train.MFModel, strconv.Itoa(good.Version))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := mm.MarshalBinary(); registry.Sum(b) != good.Artifact {
		t.Error("the registered artifact is not the one the run reports")
	}
	if mf, ok := mm.(*ml.MF); !ok || len(mf.UserIDs()) != len(m.MF.UserIDs()) {
		t.Errorf("registered a %s, want the factorization refitted on every user", mm.Family())
	}
	goodR := run(m, train.RankerDefinition)
	if !goodR.Moved {
		t.Fatalf("trained ranker refused: holdout %v, gates %+v", goodR.Metrics["holdout"], goodR.Gates)
	}

	rv, err := reg.Resolve(ctx, train.RankerModel, strconv.Itoa(goodR.Version))
	if err != nil {
		t.Fatal(err)
	}
	if imp := rv.Importance; imp == nil || len(imp.Features) != rank.Schema.Len() || imp.Rows == 0 {
		t.Errorf("ranker card importance %+v, want one per ranker feature over holdout rows", imp)
	}

	bad, err := train.Sabotaged(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	badMF := run(bad, train.MFDefinition)
	if badMF.Moved || badMF.GatesPassed || badMF.Version == good.Version || champion(train.MFModel) != good.Version {
		t.Errorf("shuffled factorization v%d: moved %v, gates passed %v, champion v%d; want refused, v%d kept",
			badMF.Version, badMF.Moved, badMF.GatesPassed, champion(train.MFModel), good.Version)
	}
	if l := badMF.Metrics["holdout"][train.MetricLiftOverPopularity]; l >= 1 {
		t.Errorf("shuffled factorization's lift over popularity = %.3f, want < 1", l)
	}
	t.Logf("good: %v / %v; shuffled factorization: %v", h, goodR.Metrics["holdout"], badMF.Metrics["holdout"])
	badR := run(bad, train.RankerDefinition)
	t.Logf("inverted ranker: %v", badR.Metrics["holdout"])
	if badR.Moved || badR.GatesPassed || champion(train.RankerModel) != goodR.Version {
		t.Errorf("inverted ranker v%d: holdout %v, moved %v; want refused, v%d kept", badR.Version, badR.Metrics["holdout"], badR.Moved, goodR.Version)
	}
	if _, err := train.MFDefinition(&train.Models{}, cfg); !errors.Is(err, train.ErrNotFitted) {
		t.Errorf("definition of models not made by Fit: %v, want ErrNotFitted", err)
	}
}
