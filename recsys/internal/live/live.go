// Package live assembles the recommender as it runs in production: a trained model set
// registered in the registry (the factorization, the index gated on recall, the ranker),
// promoted to champion, and a recommend.Service that follows the champions (a new index
// version swaps in blue/green with the factorization it was built from), reads user and
// item features from the online store, and learns from clicks as they arrive. The
// scenarios, `recsys serve` and the tests share it.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/recsys/internal/rank"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/train"
)

// Registry model names.
const (
	MFModel     = train.MFModel
	IndexModel  = "recsys-index"
	RankerModel = train.RankerModel
)

// MetricNDCG is the factorization's and the ranker's registered holdout metric.
const MetricNDCG = train.MetricNDCG

// Published is what Publish registered.
type Published struct {
	MF, Index, Ranker registry.Version
	Build             retrieval.BuildReport
}

// ErrRefused is returned when a pipeline's gates refuse a model: the champions stay.
var ErrRefused = errors.New("refused by the gates")

// PublishConfig is how Publish trains and gates.
type PublishConfig struct {
	Index retrieval.BuildConfig
	Actor string
	// Extra adds holdout metrics to the ranker's version (an offline CTR estimate, say).
	Extra ml.Metrics
	Gates train.Gates
	// CheckpointDir holds the pipelines' checkpoints ("": a temporary directory, removed
	// after the run).
	CheckpointDir string
}

// Publish is PublishWith the default gates.
func Publish(ctx context.Context, reg *registry.Registry, m *train.Models, icfg retrieval.BuildConfig, actor string, extra ml.Metrics) (Published, error) {
	return PublishWith(ctx, reg, m, PublishConfig{Index: icfg, Actor: actor, Extra: extra, Gates: train.DefaultGates()})
}

// PublishWith registers a fitted model set through the recommender's pipelines and
// promotes it to champion: the factorization (train.MFDefinition: gated on its lift
// over popularity), an index built from the registered factorization (registered only
// if its recall reaches the floor, promoted through the index gates), and the ranker
// (train.RankerDefinition: gated against the base order, its version naming the index).
// A refused model stops the publication there with ErrRefused; the champions stay.
func PublishWith(ctx context.Context, reg *registry.Registry, m *train.Models, cfg PublishConfig) (Published, error) {
	var p Published
	pc := pipeline.DefaultConfig()
	pc.CheckpointDir = cfg.CheckpointDir
	if pc.CheckpointDir == "" {
		dir, err := os.MkdirTemp("", "recsys-pipeline-*")
		if err != nil {
			return p, err
		}
		defer os.RemoveAll(dir)
		pc.CheckpointDir = dir
	}
	tc := train.PipelineConfig{Gates: cfg.Gates, Actor: cfg.Actor, Alias: registry.Champion, Extra: cfg.Extra}
	var err error
	if p.MF, err = runPipeline(ctx, reg, pc, m, tc, train.MFDefinition); err != nil {
		return p, err
	}
	mm, _, err := reg.Load(ctx, MFModel, strconv.Itoa(p.MF.Number))
	if err != nil {
		return p, fmt.Errorf("publish: %w", err)
	}
	mf, ok := mm.(*ml.MF)
	if !ok {
		return p, fmt.Errorf("publish: %s v%d is a %s", MFModel, p.MF.Number, mm.Family())
	}
	ix, rep, err := retrieval.Build(ctx, mf, fmt.Sprintf("%s/v%d", MFModel, p.MF.Number), cfg.Index)
	if err != nil {
		return p, fmt.Errorf("publish: %w", err)
	}
	p.Build = rep
	if p.Index, err = retrieval.Register(ctx, reg, IndexModel, ix, rep, cfg.Index, cfg.Actor); err != nil {
		return p, fmt.Errorf("publish: %w", err)
	}
	if err := promote(ctx, reg, IndexModel, p.Index.Number, retrieval.IndexGates(), cfg.Actor); err != nil {
		return p, err
	}
	tc.RankerParams = map[string]string{"index": fmt.Sprintf("%s/v%d", IndexModel, p.Index.Number)}
	p.Ranker, err = runPipeline(ctx, reg, pc, m, tc, train.RankerDefinition)
	return p, err
}

// runPipeline runs one of the recommender's pipeline definitions and returns the version
// it registered, with ErrRefused when its gates refused it.
func runPipeline(ctx context.Context, reg *registry.Registry, pc pipeline.Config, m *train.Models, tc train.PipelineConfig,
	define func(*train.Models, train.PipelineConfig) (pipeline.Definition, error)) (registry.Version, error) {
	def, err := define(m, tc)
	if err != nil {
		return registry.Version{}, fmt.Errorf("publish: %w", err)
	}
	pl, err := pipeline.New(def, reg, pc)
	if err != nil {
		return registry.Version{}, fmt.Errorf("publish: %w", err)
	}
	res, err := pl.Run(ctx, pipeline.Trigger{Kind: pipeline.OnDemand, Reason: fmt.Sprintf("publish of %d interactions", len(m.Interactions))})
	if err != nil {
		return registry.Version{}, fmt.Errorf("publish: %w", err)
	}
	v, err := reg.Resolve(ctx, def.Model, strconv.Itoa(res.Version))
	if err != nil {
		return v, fmt.Errorf("publish: %w", err)
	}
	if !res.GatesPassed {
		var failed []string
		for _, g := range res.Gates {
			if !g.Passed {
				failed = append(failed, fmt.Sprintf("%s: %s", g.Gate, g.Detail))
			}
		}
		return v, fmt.Errorf("publish: %s v%d %w (%s); the champion stays", def.Model, v.Number, ErrRefused, strings.Join(failed, "; "))
	}
	return v, nil
}

func promote(ctx context.Context, reg *registry.Registry, model string, version int, g registry.Gates, actor string) error {
	_, err := reg.Promote(ctx, registry.PromoteRequest{Model: model, Alias: registry.Champion, Version: version, Actor: actor, Gates: g, Reason: "published by the training pipeline"})
	if err != nil && !errors.Is(err, registry.ErrNoChange) {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// errWaiting says the champions do not form a pair yet (one alias has moved, the other
// has not): the stack being served stays.
var errWaiting = errors.New("index and ranker champions are from different publications")

// OnlineFeatures reads the feature store's online values for the ranker.
type OnlineFeatures struct {
	Store features.OnlineStore
	// Items, when set, serves the item features from a cache of the store's item view
	// (refreshed by the System's writes; see recfeatures.ItemCache); nil reads the store.
	Items *recfeatures.ItemCache
	// At is the read time TTLs are measured from (zero: now); simulations set it.
	At func() time.Time
}

// Stats implements recommend.Features.
func (f OnlineFeatures) Stats(ctx context.Context, user int64, items []int64, s *recfeatures.Stats) error {
	var at time.Time
	if f.At != nil {
		at = f.At()
	}
	if f.Items != nil {
		return recfeatures.ReadCached(ctx, f.Store, f.Items, user, items, at, s)
	}
	return recfeatures.Read(ctx, f.Store, user, items, at, s)
}

// System is the recommender running over a registry.
type System struct {
	Service *recommend.Service
	Online  *recfeatures.Online
	Store   features.OnlineStore
	reg     *registry.Registry
	log     *slog.Logger
	// Tokenizer, when set (before the first Interact), tokenizes the user ids of the clicks
	// Interact receives, which arrive raw from the outside; the models and interactions
	// given to Start must then be tokenized under the same key (TokenizeRatings), so the
	// clicks join the histories and features trained on. Nil passes user ids through.
	Tokenizer *pii.Tokenizer

	idx    *registry.ArtifactFollower[*retrieval.Index]
	ranker *registry.Follower

	mu       sync.Mutex // serialises applying interactions (one aggregator per view)
	itemItem *rank.ItemItem
	swaps    int
}

// Start follows the champions of reg and serves them. m supplies what the registry does
// not hold yet: user histories, the item-to-item model and popularity (see the case study's
// known limits). The online store is warmed with m's interactions.
func Start(ctx context.Context, reg *registry.Registry, m *train.Models, store features.OnlineStore, cfg recommend.Config, at func() time.Time, logger *slog.Logger) (*System, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &System{reg: reg, Store: store, log: logger.With("component", "recsys"), itemItem: m.ItemItem}
	var err error
	if s.idx, err = registry.FollowArtifact(ctx, reg, IndexModel, registry.Champion, retrieval.DecodeVersion); err != nil {
		return nil, err
	}
	if s.ranker, err = reg.Follow(ctx, RankerModel, registry.Champion); err != nil {
		return nil, err
	}
	if s.Online, err = recfeatures.NewOnline(m.Features, store); err != nil {
		return nil, err
	}
	items, err := recfeatures.NewItemCache(m.Features, store)
	if err != nil {
		return nil, err
	}
	s.Online.CacheItems(items)
	if err := s.Online.Apply(ctx, m.Interactions); err != nil {
		return nil, fmt.Errorf("warm the online store: %w", err)
	}
	st, err := s.stack(ctx)
	if err != nil {
		return nil, err
	}
	if s.Service, err = recommend.NewService(cfg, st, recommend.NewHistoryFrom(m.History), OnlineFeatures{Store: store, Items: items, At: at}, &recommend.Catalog{Popular: m.Popular}); err != nil {
		return nil, err
	}
	go s.follow(ctx)
	return s, nil
}

// stack assembles the champions: the index, the factorization version it names, the ranker.
func (s *System) stack(ctx context.Context) (*recommend.Stack, error) {
	ix, iv := s.idx.Current()
	model, ref, ok := strings.Cut(ix.Embeddings, "/")
	if !ok {
		return nil, fmt.Errorf("index v%d names embeddings %q, want model/vN", iv.Number, ix.Embeddings)
	}
	mm, _, err := s.reg.Load(ctx, model, ref)
	if err != nil {
		return nil, fmt.Errorf("index v%d: load its embeddings %s: %w", iv.Number, ix.Embeddings, err)
	}
	mf, ok := mm.(*ml.MF)
	if !ok {
		return nil, fmt.Errorf("index v%d: embeddings %s are a %s, not a factorization", iv.Number, ix.Embeddings, mm.Family())
	}
	r, rv := s.ranker.Current()
	// A ranker is published with the index it was trained against (its "index" param); a
	// stack pairs them or is not built, so a request never meets an index with another
	// generation's ranker while the two aliases move one after the other.
	idxRef := fmt.Sprintf("%s/v%d", IndexModel, iv.Number)
	if want := rv.Params["index"]; want != "" && want != idxRef {
		return nil, fmt.Errorf("%w: ranker v%d was published with %s, the index champion is %s", errWaiting, rv.Number, want, idxRef)
	}
	s.mu.Lock()
	ii := s.itemItem
	s.mu.Unlock()
	return &recommend.Stack{MF: mf, Index: ix, IndexVersion: fmt.Sprintf("%s/v%d", IndexModel, iv.Number),
		Ranker: r, RankerVersion: fmt.Sprintf("%s/v%d", RankerModel, rv.Number), ItemItem: ii}, nil
}

// follow swaps the service's stack whenever a champion moves. It takes both followers'
// change channels before it reads the champions, so a move that lands while a stack is
// being assembled (the ranker's alias moving just after the index's, say) still wakes it:
// reading first and then asking for the channel would miss that move for good.
func (s *System) follow(ctx context.Context) {
	for {
		idxMoved, rankerMoved := s.idx.Changed(), s.ranker.Changed()
		s.catchUp(ctx)
		select {
		case <-ctx.Done():
			return
		case <-idxMoved:
		case <-rankerMoved:
		}
	}
}

// catchUp swaps in the champions' stack unless it is the one being served.
func (s *System) catchUp(ctx context.Context) {
	_, iv := s.idx.Current()
	_, rv := s.ranker.Current()
	if cur := s.Service.Current(); cur != nil &&
		cur.IndexVersion == fmt.Sprintf("%s/v%d", IndexModel, iv.Number) &&
		cur.RankerVersion == fmt.Sprintf("%s/v%d", RankerModel, rv.Number) {
		return
	}
	st, err := s.stack(ctx)
	if errors.Is(err, errWaiting) {
		s.log.Info("kept the serving stack until its pair moves", "why", err)
		return
	}
	if err != nil {
		s.log.Error("kept the serving stack", "err", err)
		return
	}
	s.Service.Swap(st)
	s.mu.Lock()
	s.swaps++
	s.mu.Unlock()
	s.log.Info("serving stack switched", "index", st.IndexVersion, "ranker", st.RankerVersion)
}

// SetItemItem replaces the item-to-item model (a retrain brings a new one with its ranker).
func (s *System) SetItemItem(ii *rank.ItemItem) {
	s.mu.Lock()
	s.itemItem = ii
	s.mu.Unlock()
}

// Swaps counts stack switches since Start.
func (s *System) Swaps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.swaps
}

// WaitStack waits until the service serves the index version want (model/vN), or ctx
// ends, or two minutes pass: far longer than fetching and decoding an index takes even on
// a loaded machine, so running out means the swap is stuck, and the error says what is
// served and why the followers are not moving.
func (s *System) WaitStack(ctx context.Context, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		if st := s.Service.Current(); st != nil && st.IndexVersion == want {
			return nil
		}
		select {
		case <-ctx.Done():
			served := "nothing"
			if st := s.Service.Current(); st != nil {
				served = st.IndexVersion + " + " + st.RankerVersion
			}
			_, iv := s.idx.Current()
			_, rv := s.ranker.Current()
			return fmt.Errorf("wait for %s: %w (serving %s; index follower at v%d, err %v; ranker follower at v%d, err %v)",
				want, ctx.Err(), served, iv.Number, s.idx.Err(), rv.Number, s.ranker.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Interact records positive interactions (clicks): the users' histories, so the items are
// not recommended again and the item-to-item model scores from them, and the online
// feature store. With a Tokenizer the user ids are tokenized first.
func (s *System) Interact(ctx context.Context, ins []recfeatures.Interaction) error {
	if s.Tokenizer != nil {
		ins = TokenizeInteractions(s.Tokenizer, ins)
	}
	for _, in := range ins {
		s.Service.History().Add(in.User, in.Item)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Online.Apply(ctx, ins)
}
