package scenarios

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/recsys/internal/ann"
	"github.com/casebook-ml/casebook/recsys/internal/evaluate"
	"github.com/casebook-ml/casebook/recsys/internal/live"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

// Set lists the recommender's scenarios, in the order `make demo` runs them.
func Set() scenario.Set {
	return scenario.Set{quality(), indexGate(), blueGreen(), coldStart(), serving(), decay()}
}

func quality() scenario.Scenario {
	return scenario.Scenario{
		Name:    "recsys/quality",
		Summary: "The offline protocol of Microsoft Recommenders' MovieLens benchmark on simulated data with a known truth: the recommender as served (ANN retrieval, features, ranker) next to each stage, the models alone, popularity and the oracle.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			w, err := getWorld(ctx)
			if err != nil {
				return err
			}
			c := worldConfig()
			r.Step("Simulate %d users × %d items, %d interactions (Zipf popularity, latent tastes), split 75/25 stratified by item, seed 42", c.Users, c.Items, c.Interactions)
			trainSet, testSet := evaluate.Split(w.ratings)
			r.Say("train %d, test %d ratings; every held-out rating is relevant, training items are never recommended, every item is ranked", len(trainSet), len(testSet))
			cfg := evaluate.DefaultConfig()
			cfg.Train = trainConfig()
			cfg.Serve.Candidates = cfg.Train.Candidates
			oracle := func(user int64, items []int64, dst []float64) []float64 {
				full := w.sim.OracleScores(user, w.end.Unix(), nil)
				dst = append(dst[:0], make([]float64, len(items))...)
				for i, it := range items {
					dst[i] = full[it]
				}
				return dst
			}
			r.Step("Fit (iALS embeddings, EASE item-to-item, LambdaRank ranker on an inner split), build the index, evaluate at k = 10")
			rep, err := evaluate.Run(ctx, trainSet, testSet, cfg, oracle)
			if err != nil {
				return err
			}
			for _, row := range rep.Rows {
				r.Say("%-22s NDCG@10 %.4f  P@10 %.4f  R@10 %.4f  MAP %.4f  coverage %4.1f%%", row.Model, row.Metrics.NDCG, row.Metrics.Precision, row.Metrics.Recall, row.Metrics.MAP, 100*row.Coverage)
				r.Measure(row.Model+" NDCG@10", row.Metrics.NDCG, "")
			}
			served, _ := rep.Row("served")
			ret, _ := rep.Row("served-retrieval-only")
			pop, _ := rep.Row("popularity")
			orc, _ := rep.Row("oracle")
			mmr, _ := rep.Row(fmt.Sprintf("served-mmr-%.1f", cfg.Diversity))
			r.Measure("index recall@10 against exact search", rep.IndexRecall, "")
			r.Measure(fmt.Sprintf("retrieval recall@%d", rep.Candidates), rep.RetrievalRecall, "")
			r.Measure("ranking gain NDCG@10", served.Metrics.NDCG-ret.Metrics.NDCG, "")
			r.Measure("MMR NDCG@10 cost", served.Metrics.NDCG-mmr.Metrics.NDCG, "")
			r.Measure("MMR coverage gain", mmr.Coverage-served.Coverage, "")
			r.Check(fmt.Sprintf("the index finds what exact search finds: recall@10 %.4f ≥ %.2f", rep.IndexRecall, retrieval.RecallFloor), rep.IndexRecall >= retrieval.RecallFloor)
			r.Check(fmt.Sprintf("the recommender as served beats popularity: NDCG@10 %.4f vs %.4f", served.Metrics.NDCG, pop.Metrics.NDCG), served.Metrics.NDCG > pop.Metrics.NDCG+0.02)
			r.Check(fmt.Sprintf("no model beats the oracle that knows the truth: %.4f ≥ %.4f", orc.Metrics.NDCG, served.Metrics.NDCG), orc.Metrics.NDCG >= served.Metrics.NDCG)
			return nil
		},
	}
}

func indexGate() scenario.Scenario {
	return scenario.Scenario{
		Name:    "recsys/index-gate",
		Summary: "An ANN index is registered only if its recall@10 against exact search reaches 0.95: ours passes, a starved configuration and github.com/coder/hnsw are measured by the same gate, and one that misses it is refused with nothing stored.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			w, err := getWorld(ctx)
			if err != nil {
				return err
			}
			reg, cleanup, err := tempRegistry()
			if err != nil {
				return err
			}
			defer cleanup()
			r.Step("Fit the factorization on the simulated interactions")
			base, err := w.fitted(ctx)
			if err != nil {
				return err
			}
			type variant struct {
				name string
				cfg  retrieval.BuildConfig
			}
			good := retrieval.DefaultBuildConfig()
			starved := good
			starved.HNSW.M, starved.HNSW.EfConstruction, starved.HNSW.EfSearch = 2, 4, 1
			coder := good
			coder.Backend = "coder"
			for _, v := range []variant{{"hnsw (M 16, efConstruction 200, efSearch 128)", good}, {"hnsw starved (M 2, efConstruction 4, efSearch 1)", starved}, {"github.com/coder/hnsw v0.6.1 (M 16, ef 64)", coder}} {
				r.Step("Build and gate: %s", v.name)
				ix, rep, err := retrieval.Build(ctx, base.MF, "recsys-mf/v1", v.cfg)
				if err != nil {
					return err
				}
				r.Measure(v.cfg.Backend+" recall@10 "+v.name, rep.Recall, "")
				r.Say("recall@10 against exact search on %d user queries: %.4f; built in %v", v.cfg.GateQueries, rep.Recall, rep.BuildTime.Round(time.Millisecond))
				before, _ := reg.Versions(ctx, live.IndexModel)
				ver, err := retrieval.Register(ctx, reg, live.IndexModel, ix, rep, v.cfg, "scenario")
				after, _ := reg.Versions(ctx, live.IndexModel)
				var fe *registry.FloorError
				switch {
				case rep.Recall >= retrieval.RecallFloor:
					if !r.Check("an index at or above the floor is registered with its recall, build parameters and time in its card", err == nil && ver.Metrics[retrieval.EvalSet][retrieval.MetricRecall] == rep.Recall && ver.Params["m"] != "") {
						return fmt.Errorf("register: %v", err)
					}
					card, err := reg.Card(ctx, live.IndexModel, fmt.Sprint(ver.Number))
					if err != nil {
						return err
					}
					r.Say("registered %s v%d, artifact sha256 %s… (%d bytes)", live.IndexModel, ver.Number, ver.Artifact[:12], ver.Size)
					r.Check("its model card shows the recall", len(card) > 0 && containsAll(card, retrieval.MetricRecall, "ef_search"))
				default:
					r.Say("refused: %v", err)
					r.Check("an index under the floor is refused (ErrGateFailed) and nothing is stored", errors.Is(err, registry.ErrGateFailed) && errors.As(err, &fe) && len(after) == len(before))
				}
			}
			r.Step("The same gate on random vectors, where coder/hnsw's early stop shows (10,000 × 64, uniform)")
			vecs, err := ann.Uniform(10000, 64, 7)
			if err != nil {
				return err
			}
			queries, _ := ann.Uniform(200, 64, 8)
			exact, _ := ann.NewExact(64)
			ours, _ := ann.NewHNSW(64, ann.DefaultHNSWConfig())
			cod, _ := ann.NewCoder(64, ann.DefaultCoderConfig())
			for i, v := range vecs {
				for _, ix := range []ann.Index{exact, ours, cod} {
					if err := ix.Add(int64(i), v); err != nil {
						return err
					}
				}
			}
			ro, err := ann.Recall(ctx, ours, exact, queries, 10)
			if err != nil {
				return err
			}
			rc, err := ann.Recall(ctx, cod, exact, queries, 10)
			if err != nil {
				return err
			}
			r.Measure("hnsw recall@10 uniform 10k×64 (ef 64)", ro, "")
			r.Measure("coder/hnsw recall@10 uniform 10k×64", rc, "")
			r.Say("ours %.3f, coder/hnsw %.3f: its search keeps only k results and stops early, so ef does not help (recsys/internal/ann/coder.go explains)", ro, rc)
			r.Check(fmt.Sprintf("coder/hnsw would be refused on such data: recall %.3f < %.2f", rc, retrieval.RecallFloor), rc < retrieval.RecallFloor)
			return nil
		},
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// load runs workers that ask for recommendations until stop is closed, and counts.
type load struct {
	ok, failed, bad atomic.Int64
	mu              sync.Mutex
	versions        map[string]int
}

func (l *load) run(ctx context.Context, svc *recommend.Service, users int, stop <-chan struct{}, wg *sync.WaitGroup, worker int) {
	defer wg.Done()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := worker; ; i += 7 {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		u := int64(i % users)
		resp, err := svc.Recommend(ctx, recommend.Request{User: u, K: 10})
		if err != nil {
			l.failed.Add(1)
			continue
		}
		seen := svc.History()
		_, sorted := seen.Snapshot(u, nil, nil)
		okResp := len(resp.Items) == 10
		for _, it := range resp.Items {
			if _, found := slices.BinarySearch(sorted, it.ID); found {
				okResp = false
			}
		}
		if !okResp {
			l.bad.Add(1)
		}
		l.ok.Add(1)
		l.mu.Lock()
		l.versions[resp.IndexVersion+" + "+resp.ModelVersion]++
		l.mu.Unlock()
	}
}

func blueGreen() scenario.Scenario {
	return scenario.Scenario{
		Name:    "recsys/blue-green",
		Summary: "Serving follows the registry: a retrained factorization and its gated index are promoted while requests run, the service swaps the whole stack at once, and no request fails or mixes versions.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			w, err := getWorld(ctx)
			if err != nil {
				return err
			}
			reg, cleanup, err := tempRegistry()
			if err != nil {
				return err
			}
			defer cleanup()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			r.Step("Train, register (index gated), promote to champion, serve")
			cfg := trainConfig()
			m1, err := w.fitted(ctx)
			if err != nil {
				return err
			}
			p1, err := live.Publish(ctx, reg, m1, retrieval.DefaultBuildConfig(), "scenario", nil)
			if err != nil {
				return err
			}
			sys, err := live.Start(ctx, reg, m1, memory.New(m1.Features), recommend.DefaultConfig(), func() time.Time { return w.end }, nil)
			if err != nil {
				return err
			}
			r.Say("serving %s v%d + %s v%d", live.IndexModel, p1.Index.Number, live.RankerModel, p1.Ranker.Number)
			r.Step("Two clients ask for recommendations (one every millisecond each); meanwhile retrain (another seed) and publish v2")
			l := &load{versions: map[string]int{}}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Add(1)
				go l.run(ctx, sys.Service, worldConfig().Users, stop, &wg, i)
			}
			cfg.IALS.Seed, cfg.BPR.Seed = 2, 2
			m2, err := train.Fit(ctx, w.ratings, cfg)
			if err != nil {
				close(stop)
				return err
			}
			p2, err := live.Publish(ctx, reg, m2, retrieval.DefaultBuildConfig(), "scenario", nil)
			if err != nil {
				close(stop)
				return err
			}
			want := fmt.Sprintf("%s/v%d", live.IndexModel, p2.Index.Number)
			werr := sys.WaitStack(ctx, want)
			time.Sleep(100 * time.Millisecond) // requests on the new stack too
			close(stop)
			wg.Wait()
			if werr != nil {
				return werr
			}
			for v, n := range l.versions {
				r.Say("%6d answers from %s", n, v)
			}
			r.Measure("answers", float64(l.ok.Load()), "")
			r.Measure("failed", float64(l.failed.Load()), "")
			r.Measure("stack swaps", float64(sys.Swaps()), "")
			r.Check(fmt.Sprintf("zero failed requests across the switch (%d answered)", l.ok.Load()), l.failed.Load() == 0 && l.ok.Load() > 0)
			r.Check("every answer has 10 items, none the user already has", l.bad.Load() == 0)
			r.Check("answers came from both stacks, and the new one is served at the end", len(l.versions) >= 2 && sys.Service.Current().IndexVersion == want)
			paired := true
			for v := range l.versions {
				idx, rk, _ := strings.Cut(v, " + ")
				paired = paired && versionOf(idx) == versionOf(rk)
			}
			r.Check("no answer paired an index with a ranker from another publication (the aliases move one after the other; the stack waits for both)", paired)
			return nil
		},
	}
}

func coldStart() scenario.Scenario {
	return scenario.Scenario{
		Name:    "recsys/cold-start",
		Summary: "A user the model has never seen gets popular items in the genre they asked for; a new item enters the live index from its genres (while searches run) and is retrieved before anyone has touched it, mostly for users who like those genres.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			w, err := getWorld(ctx)
			if err != nil {
				return err
			}
			sys, _, stopSys, err := w.running(ctx)
			if err != nil {
				return err
			}
			defer stopSys()
			m, err := w.fitted(ctx)
			if err != nil {
				return err
			}
			genres := map[int64]uint32{}
			cat := &recommend.Catalog{Popular: m.Popular, Genres: map[int64][]string{}}
			for _, it := range w.sim.Items() {
				genres[it.ID] = it.Genres
				for g := range sim.NumGenres {
					if it.HasGenre(g) {
						cat.Genres[it.ID] = append(cat.Genres[it.ID], sim.GenreNames[g])
					}
				}
			}
			sys.Service.SetCatalog(cat)

			r.Step("A new user asks for comedies")
			newUser := int64(worldConfig().Users + 1000)
			resp, err := sys.Service.Recommend(ctx, recommend.Request{User: newUser, K: 10, Context: map[string]string{"genre": "Comedy"}})
			if err != nil {
				return err
			}
			comedies := 0
			for _, it := range resp.Items {
				if slices.Contains(cat.Genres[it.ID], "Comedy") {
					comedies++
				}
			}
			r.Say("path %q: %d items, %d of them comedies, the most popular first", resp.Path, len(resp.Items), comedies)
			r.Check("the new user is answered by the cold-start path with 10 comedies", resp.Path == recommend.PathColdStart && len(resp.Items) == 10 && comedies == 10)

			r.Step("A new item (a Sci-Fi title nobody has rated) enters the live index from its genre, while two clients search")
			scifi := -1
			for g, n := range sim.GenreNames {
				if n == "Sci-Fi" {
					scifi = g
				}
			}
			cs := train.NewColdStart(sys.Service.Current().MF, genres)
			vec, bias := cs.Vector(1 << scifi)
			newItem := int64(worldConfig().Items + 1000)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			l := &load{versions: map[string]int{}}
			for i := range 2 {
				wg.Add(1)
				go l.run(ctx, sys.Service, worldConfig().Users, stop, &wg, i)
			}
			for l.ok.Load() < 50 {
				time.Sleep(time.Millisecond)
			}
			clamped, err := sys.Service.Current().Index.AddItem(newItem, vec, bias)
			for n := l.ok.Load(); l.ok.Load() < n+50; {
				time.Sleep(time.Millisecond)
			}
			close(stop)
			wg.Wait()
			if err != nil {
				return err
			}
			r.Say("added item %d (clamped to the sphere: %v) while two clients ran (%d requests, %d failed)", newItem, clamped, l.ok.Load(), l.failed.Load())
			// Who retrieves it: users whose history is mostly Sci-Fi against the rest.
			reach := worldConfig().Items / 3
			var fanHit, fans, otherHit, others int
			for u := int64(0); u < int64(worldConfig().Users); u++ {
				hist := m.History[u]
				if len(hist) == 0 {
					continue
				}
				sf := 0
				for _, it := range hist {
					if genres[it]&(1<<scifi) != 0 {
						sf++
					}
				}
				// The index's top third of the catalogue for this user (serving asks for
				// 200 candidates; a brand-new item with only its genre's mean vector sits
				// lower in most lists, so look further down to see who it reaches).
				stack := sys.Service.Current()
				p, ok := stack.MF.UserVector(u)
				if !ok {
					continue
				}
				res := stack.Index.Search(p, reach, 2*reach, nil, nil)
				hit := slices.ContainsFunc(res, func(x ann.Result) bool { return x.ID == newItem })
				if float64(sf) >= 0.2*float64(len(hist)) {
					fans++
					if hit {
						fanHit++
					}
				} else {
					others++
					if hit {
						otherHit++
					}
				}
			}
			fanRate, otherRate := float64(fanHit)/float64(max(1, fans)), float64(otherHit)/float64(max(1, others))
			r.Measure("new item retrieved for Sci-Fi fans", fanRate, "")
			r.Measure("new item retrieved for other users", otherRate, "")
			r.Say("among the index's top %d for %d of %d Sci-Fi fans (%.0f%%) and %d of %d other users (%.0f%%)", reach, fanHit, fans, 100*fanRate, otherHit, others, 100*otherRate)
			r.Check("no request failed while the item was added", l.failed.Load() == 0)
			r.Check("the new item is retrieved before any interaction, more often for Sci-Fi fans than for others", fanHit > 0 && fanRate > otherRate)
			return nil
		},
	}
}
