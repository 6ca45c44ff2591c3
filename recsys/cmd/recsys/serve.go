package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/onlinestore"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/recsys/internal/live"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/server"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

// serveConfig is one parsed `recsys serve`.
type serveConfig struct {
	Addr     string
	Ratings  string
	Size     string // default | large
	Seed     uint64
	Registry string
	Store    string
	Train    train.Config
	Index    retrieval.BuildConfig
	Serve    recommend.Config
	HTTP     server.Config
	// Gates are the pipelines' bars for publishing (train.DefaultGates; --min-lift).
	Gates train.Gates
	// Noop serves the same HTTP path with a recommender that answers ten fixed items at
	// once: the floor a benchmark compares with.
	Noop      bool
	GCPercent int
	// Pprof serves Go's profiler on this address (empty: off).
	Pprof string
}

func parseServe(args []string) (serveConfig, error) {
	c := serveConfig{Addr: "127.0.0.1:8081", Size: "default", Seed: 1, Store: "memory", Gates: train.DefaultGates(),
		Train: train.DefaultConfig(), Index: retrieval.DefaultBuildConfig(), Serve: recommend.DefaultConfig(), HTTP: server.DefaultConfig()}
	fs := flag.NewFlagSet("recsys serve", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP address (GET /v1/users/{id}/recommendations, /metrics, /healthz)")
	fs.StringVar(&c.Ratings, "ratings", "", "train on this ratings file (MovieLens layouts); default: simulate")
	fs.StringVar(&c.Size, "size", c.Size, "simulation size without --ratings: default (943 users × 1,682 items) or large (50,000 users × 100,000 items)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "simulation seed")
	fs.StringVar(&c.Registry, "registry", "", "registry directory (default: a temporary one, removed on exit)")
	fs.StringVar(&c.Store, "store", c.Store, "online feature store: memory or redis://HOST:PORT")
	fs.StringVar(&c.Train.Embeddings, "embeddings", c.Train.Embeddings, "bpr or ials")
	fs.IntVar(&c.Serve.Candidates, "candidates", c.Serve.Candidates, "candidates retrieval proposes to the ranker")
	fs.IntVar(&c.Serve.EfSearch, "ef-search", c.Serve.EfSearch, "the index's search breadth")
	fs.Float64Var(&c.Gates.MinLift, "min-lift", c.Gates.MinLift, "the factorization's publishing floor: holdout NDCG@10 at least this × the popularity baseline's (0 serves whatever trains; the large world's iALS scored 0.99 and is refused at the default)")
	fs.DurationVar(&c.HTTP.Timeout, "timeout", c.HTTP.Timeout, "per-request deadline")
	fs.IntVar(&c.GCPercent, "gogc", 400, "garbage collector target percentage for this process (GOGC; 0 keeps the environment's): a serving heap of a few hundred MB collected at 100% spends its CPU marking")
	fs.StringVar(&c.Pprof, "pprof", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (empty: off)")
	fs.BoolVar(&c.Noop, "noop", false, "serve the same HTTP path with a no-op recommender (ten fixed items): the floor for benchmarks")
	if err := cli.Parse(fs, "recsys serve [flags]\n  trains, publishes to a registry and serves recommendations over HTTP until interrupted", args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", scenario.ErrUsage, fs.Arg(0))
	}
	if c.Size != "default" && c.Size != "large" {
		return c, fmt.Errorf("%w: --size %q: want default or large", scenario.ErrUsage, c.Size)
	}
	for _, err := range []error{c.Train.Validate(), c.Serve.Validate(), c.HTTP.Validate(), c.Index.Validate()} {
		if err != nil {
			return c, fmt.Errorf("%w: %v", scenario.ErrUsage, err)
		}
	}
	return c, nil
}

// openStore opens the --store spec; a bad spec is a usage error.
func openStore(spec string, reg *features.Registry, logger *slog.Logger) (features.OnlineStore, error) {
	s, err := onlinestore.Open(spec, reg, logger)
	if errors.Is(err, onlinestore.ErrSpec) {
		return nil, fmt.Errorf("%w: --store: %v", scenario.ErrUsage, err)
	}
	return s, err
}

// runServe trains, publishes and serves until ctx ends or a server fails. The HTTP server
// and the profiler's run as one process (cli.Run): either failing stops both.
func runServe(ctx context.Context, c serveConfig, logger *slog.Logger, stdout io.Writer) error {
	var parts []cli.Part
	if c.Pprof != "" {
		// Listen now, so a taken port fails before the training.
		ln, err := net.Listen("tcp", c.Pprof)
		if err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
		defer ln.Close()
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		parts = append(parts, cli.Serve(cli.NewServer(mux), ln))
	}
	tok, err := tokenizer(os.Getenv, c.Store == "memory")
	if err != nil {
		return err
	}
	if tok.Ephemeral {
		logger.Info("user ids are tokenized under a key made for this process (no " + pii.EnvKey + " or " + pii.EnvKeyFile + "): tokens do not survive a restart")
	}
	c.HTTP.Tokenizer = tok
	if c.Noop {
		items := make([]recommend.Item, 10)
		for i := range items {
			items[i] = recommend.Item{ID: int64(i + 1), Score: 1 / float64(i+1)}
		}
		return listenAndServe(ctx, recommend.Fixed{Items: items}, c, logger, stdout, parts)
	}
	var (
		rs  []ratings.Rating
		cat *sim.Sim // the simulated catalogue, when there is one
	)
	if c.Ratings != "" {
		var err error
		if rs, err = ratings.LoadFile(c.Ratings); err != nil {
			return err
		}
	} else {
		scfg := sim.DefaultConfig()
		if c.Size == "large" {
			scfg = sim.LargeConfig()
		}
		scfg.Seed = c.Seed
		s, err := sim.New(scfg)
		if err != nil {
			return err
		}
		cat = s
		fmt.Fprintf(stdout, "recsys serve: simulating %d users × %d items, %d interactions\n", scfg.Users, scfg.Items, scfg.Interactions)
		xs, err := s.Generate(ctx)
		if err != nil {
			return err
		}
		rs = sim.Ratings(xs)
	}
	// The ingestion boundary: from here on user ids are tokens (the HTTP handler tokenizes
	// each request's id under the same key).
	rs = live.TokenizeRatings(tok, rs)
	dir := c.Registry
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "recsys-registry-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	fcfg := regfs.DefaultConfig()
	fcfg.Dir, fcfg.Logger = dir, logger
	store, err := regfs.Open(fcfg)
	if err != nil {
		return err
	}
	rcfg := registry.DefaultConfig()
	rcfg.Logger = logger
	reg, err := registry.New(store, rcfg)
	if err != nil {
		return err
	}
	t0 := time.Now()
	fmt.Fprintf(stdout, "recsys serve: training on %d interactions (%s embeddings, EASE or co-occurrence, LambdaRank ranker)...\n", len(rs), c.Train.Embeddings)
	models, err := train.Fit(ctx, rs, c.Train)
	if err != nil {
		return err
	}
	models.PIIPolicy = tok.Policy("user ids")
	pub, err := live.PublishWith(ctx, reg, models, live.PublishConfig{Index: c.Index, Actor: "recsys-serve", Gates: c.Gates})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recsys serve: trained and published in %.1f s: %s v%d, %s v%d (recall@10 %.4f, %d items, built in %.1f s), %s v%d (registry %s)\n",
		time.Since(t0).Seconds(), live.MFModel, pub.MF.Number, live.IndexModel, pub.Index.Number, pub.Build.Recall, pub.Build.Items, pub.Build.BuildTime.Seconds(),
		live.RankerModel, pub.Ranker.Number, dir)
	online, err := openStore(c.Store, models.Features, logger)
	if err != nil {
		return err
	}
	defer online.Close()
	sys, err := live.Start(ctx, reg, models, online, c.Serve, nil, logger)
	if err != nil {
		return err
	}
	sys.Tokenizer = tok
	// What serving keeps: the models the stack holds, the histories, the online store.
	// The training inputs and the offline feature table go, so each collection marks less.
	models.Table, models.Interactions, rs = nil, nil, nil
	if cat != nil {
		// Items nobody rated enter the index from their genres (the cold-start path), so
		// the whole catalogue can be retrieved.
		t0 := time.Now()
		genres := map[int64]uint32{}
		for _, it := range cat.Items() {
			genres[it.ID] = it.Genres
		}
		st := sys.Service.Current()
		cs := train.NewColdStart(st.MF, genres)
		added := 0
		for _, it := range cat.Items() {
			if _, ok := st.MF.ItemVector(it.ID); ok {
				continue
			}
			v, b := cs.Vector(it.Genres)
			if _, err := st.Index.AddItem(it.ID, v, b); err != nil {
				return err
			}
			added++
		}
		fmt.Fprintf(stdout, "recsys serve: %d never-rated items added to the index from their genres in %.1f s; it holds %d items\n", added, time.Since(t0).Seconds(), st.Index.ANN.Len())
	}
	runtime.GC()
	debug.FreeOSMemory()
	if c.GCPercent > 0 {
		debug.SetGCPercent(c.GCPercent)
	}
	return listenAndServe(ctx, sys.Service, c, logger, stdout, parts)
}

// tokenizer is the PII key of a run: from CASEBOOK_PII_KEY_FILE or CASEBOOK_PII_KEY when
// set; otherwise, on the memory store, a key made for this process (`recsys serve` trains and
// serves in one process and its clients send raw ids, so no other process needs the key); a
// run on a Redis store without a key is refused, since its user profiles would outlive the
// process under a key nobody holds, or be written raw.
func tokenizer(getenv func(string) string, local bool) (*pii.Tokenizer, error) {
	tok, err := pii.ForRun(getenv, local, pii.NewEphemeral)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", scenario.ErrUsage, err)
	}
	return tok, nil
}

// listenAndServe serves rec over HTTP beside the other parts until ctx ends or one fails.
func listenAndServe(ctx context.Context, rec recommend.Recommender, c serveConfig, logger *slog.Logger, stdout io.Writer, parts []cli.Part) error {
	preg := prometheus.NewRegistry()
	preg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c.HTTP.Gatherer = preg
	srv, err := server.New(rec, c.HTTP, logger.With("component", "recsys-server"), preg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recsys serve: listening on http://%s (GET /v1/users/{id}/recommendations?k=10)\n", ln.Addr())
	return cli.Run(ctx, append(parts, cli.Serve(cli.NewServer(srv.Handler()), ln))...)
}
