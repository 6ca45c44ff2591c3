package live

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	fredis "github.com/casebook-ml/casebook/platform/features/redis"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/registry/natskv"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

// smallModels fits the recommender on 300 users × 500 items.
func smallModels(t *testing.T, seed uint64) (*train.Models, time.Time) {
	t.Helper()
	ctx := context.Background()
	sc := sim.DefaultConfig()
	sc.Users, sc.Items, sc.Interactions, sc.MaxPerUser = 300, 500, 12000, 200
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := s.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs := sim.Ratings(xs)
	cfg := train.DefaultConfig()
	cfg.Candidates, cfg.Ranker.Trees = 100, 30
	cfg.IALS.Seed, cfg.BPR.Seed = seed, seed
	m, err := train.Fit(ctx, rs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, time.Unix(xs[len(xs)-1].Time, 0).UTC()
}

// The recommender on real engines: the registry on NATS (KV and object store), the online
// features in Redis, impressions and clicks on the JetStream event log. Features read from
// Redis equal the offline table's; a new champion index swaps in through the NATS KV watch;
// clicks land in the history and in Redis; CTR is joined from the log.
func TestOnRealNATSAndRedis(t *testing.T) {
	natsURL, redisAddr := env.NATSURL(t), env.RedisAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lc := eventlog.DefaultConfig()
	lc.URL = natsURL
	log, err := eventlog.Open(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	kc := natskv.DefaultConfig()
	kc.KVBucket, kc.ObjectBucket = "recsys_test_registry", "recsys_test_artifacts"
	st, err := natskv.Open(ctx, log.JetStream(), kc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	m1, end := smallModels(t, 1)
	if _, err := Publish(ctx, reg, m1, retrieval.DefaultBuildConfig(), "test", nil); err != nil {
		t.Fatal(err)
	}
	rc := fredis.DefaultConfig()
	rc.Addr, rc.Prefix = redisAddr, "recsys-test:"
	store, err := fredis.New(rc, m1.Features)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sys, err := Start(ctx, reg, m1, store, recommend.DefaultConfig(), func() time.Time { return end }, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Features in Redis are the offline table's, for every candidate of every user.
	for u := int64(0); u < 300; u += 23 {
		cands, err := sys.Service.Candidates(ctx, u)
		if err != nil || len(cands) == 0 {
			t.Fatalf("Candidates(%d) = %d items, %v", u, len(cands), err)
		}
		var on, off recfeatures.Stats
		if err := recfeatures.Read(ctx, store, u, cands, end, &on); err != nil {
			t.Fatal(err)
		}
		m1.Table.Lookup(u, cands, &off)
		if !slices.Equal(on.User, off.User) {
			t.Fatalf("user %d: Redis %v, offline %v", u, on.User, off.User)
		}
		for i := range cands {
			if !slices.Equal(on.Items[i], off.Items[i]) {
				t.Fatalf("item %d: Redis %v, offline %v", cands[i], on.Items[i], off.Items[i])
			}
		}
		resp, err := sys.Service.Recommend(ctx, recommend.Request{User: u, K: 10})
		if err != nil || resp.Path != recommend.PathPersonal || len(resp.Items) != 10 {
			t.Fatalf("Recommend(%d) = %+v, %v; want 10 personal items", u, resp, err)
		}
	}

	// A retrained model set becomes champion: serving follows the NATS KV watch.
	m2, _ := smallModels(t, 2)
	p2, err := Publish(ctx, reg, m2, retrieval.DefaultBuildConfig(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s/v%d", IndexModel, p2.Index.Number)
	if err := sys.WaitStack(ctx, want); err != nil {
		t.Fatalf("after publishing %s: %v", want, err)
	}

	// Impressions and clicks through the event log; every clicked item leaves the user's
	// recommendations and counts in Redis; CTR per version is joined from the log.
	for _, sc := range monitoring.Streams(0) {
		if err := log.DeleteStream(ctx, sc.Name); err != nil && ctx.Err() != nil {
			t.Fatal(err)
		}
		if _, err := log.EnsureStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	pl, err := monitoring.NewPredictionLog(log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const user = 5
	resp, err := sys.Service.Recommend(ctx, recommend.Request{User: user, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	ver, _ := strconv.Atoi(resp.ModelVersion[len(RankerModel)+2:])
	at := end.Add(time.Hour)
	var preds []predlog.Prediction
	for p, it := range resp.Items {
		preds = append(preds, predlog.Prediction{ID: fmt.Sprintf("imp-%d", p), Model: RankerModel, Version: ver, Time: at, Score: it.Score,
			Features: map[string]float64{"position": float64(p)}})
	}
	if err := pl.Log(ctx, preds...); err != nil {
		t.Fatal(err)
	}
	clicked := resp.Items[2].ID
	if err := pl.LogOutcomes(ctx, predlog.Outcome{ID: "imp-2", Model: RankerModel, Label: 1, Time: at.Add(time.Minute), Kind: "click"}); err != nil {
		t.Fatal(err)
	}
	var before recfeatures.Stats
	if err := recfeatures.Read(ctx, store, user, []int64{clicked}, at, &before); err != nil {
		t.Fatal(err)
	}
	if err := sys.Interact(ctx, []recfeatures.Interaction{{User: user, Item: clicked, Time: at.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	var after recfeatures.Stats
	if err := recfeatures.Read(ctx, store, user, []int64{clicked}, at, &after); err != nil {
		t.Fatal(err)
	}
	last := len(recfeatures.ItemWindows) - 1
	if after.Items[0][last] != before.Items[0][last]+1 {
		t.Errorf("item %d's %dd count in Redis: %v before the click, %v after; want one more", clicked, recfeatures.ItemWindows[last], before.Items[0][last], after.Items[0][last])
	}
	resp2, err := sys.Service.Recommend(ctx, recommend.Request{User: user, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(resp2.Items, func(it recommend.Item) bool { return it.ID == clicked }) {
		t.Errorf("clicked item %d recommended again", clicked)
	}
	join, err := monitoring.NewJoiner(monitoring.JoinConfig{Model: RankerModel, Horizon: 30 * time.Minute, ImplicitNegative: true, Window: 100, K: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, stream := range []string{predlog.PredictionStream, predlog.OutcomeStream} {
		if _, err := log.Replay(ctx, stream, eventlog.FromBeginning(), nil, join.Handler()); err != nil {
			t.Fatal(err)
		}
	}
	join.Advance(at.Add(time.Hour))
	if q := join.Quality(ver); q.Labelled != 10 || q.Positives != 1 || q.PositiveRate != 0.1 {
		t.Errorf("joined quality of v%d = %d labelled, %d clicks, CTR %v; want 10, 1, 0.1", ver, q.Labelled, q.Positives, q.PositiveRate)
	}
}
