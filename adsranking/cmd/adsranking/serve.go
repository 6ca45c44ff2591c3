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
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/casebook-ml/casebook/adsranking/internal/bidder"
	"github.com/casebook-ml/casebook/adsranking/internal/live"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/adsranking/internal/server"
	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/onlinestore"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// serveConfig is one parsed `adsranking serve`.
type serveConfig struct {
	Addr, Registry, Store, NATS string
	Live                        live.Config
	// Noop serves the same HTTP path (decode, route, encode) answering a no-bid at once:
	// the floor a benchmark compares with.
	Noop      bool
	GCPercent int
	Pprof     string
}

const serveUsage = `adsranking serve [flags]
  the bidder (POST /openrtb2/auction) on an event log, a registry and a profile store;
  trains a click model first when the registry has no champion`

func parseServe(args []string) (serveConfig, error) {
	c := serveConfig{Addr: "127.0.0.1:8090", Store: "memory", NATS: eventlog.EmbeddedURL, Live: live.DefaultConfig()}
	fs := flag.NewFlagSet("adsranking serve", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP address (POST /openrtb2/auction, /metrics, /healthz)")
	fs.StringVar(&c.Registry, "registry", "", "registry directory (default: a temporary one, removed on exit); a champion there is served, else one is trained")
	fs.StringVar(&c.Store, "store", c.Store, "online profile store: memory or redis://HOST:PORT")
	fs.StringVar(&c.NATS, "nats", c.NATS, "event log: embedded or nats://HOST:PORT")
	fs.StringVar(&c.Live.Pacer, "pacer", c.Live.Pacer, "pid, throttle or none")
	fs.IntVar(&c.Live.Bidder.Candidates, "candidates", c.Live.Bidder.Candidates, "most candidates scored per request")
	fs.IntVar(&c.Live.TrainRequests, "train-requests", c.Live.TrainRequests, "click log size when the registry has no champion")
	fs.Float64Var(&c.Live.FloorRatio, "floor", c.Live.FloorRatio, "registry floor for that model: log loss ≤ floor × the generator's (1.02 needs --train-requests 1500000)")
	fs.Float64Var(&c.Live.BudgetScale, "budget-scale", c.Live.BudgetScale, "multiply every campaign's daily budget (load tests: budgets sized for the simulated day run out in minutes at thousands of requests a second)")
	fs.IntVar(&c.GCPercent, "gogc", 400, "garbage collector target percentage (GOGC; 0 keeps the environment's)")
	fs.StringVar(&c.Pprof, "pprof", "", "serve Go's profiler on this address, e.g. 127.0.0.1:6060 (empty: off)")
	fs.BoolVar(&c.Noop, "noop", false, "answer every valid request with a no-bid at once (same decode and encode): the floor for benchmarks")
	if err := cli.Parse(fs, serveUsage, args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", scenario.ErrUsage, fs.Arg(0))
	}
	if err := c.Live.Bidder.Validate(); err != nil {
		return c, fmt.Errorf("%w: %v", scenario.ErrUsage, err)
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

// runServe builds the bidder and serves it until ctx ends or a part fails: the HTTP
// server, the profiler and the live system (its consumers, publisher and control loop) run
// as one process (cli.Run), the first to fail stopping the others with its error.
func runServe(ctx context.Context, c serveConfig, logger *slog.Logger, stdout io.Writer) error {
	var parts []cli.Part
	if c.Pprof != "" {
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
	preg := prometheus.NewRegistry()
	preg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tok, err := tokenizer(os.Getenv, c.Store == "memory")
	if err != nil {
		return err
	}
	if tok.Ephemeral {
		logger.Info("user ids are tokenized under a key made for this process (no " + pii.EnvKey + " or " + pii.EnvKeyFile + "): profiles keyed by them do not survive a restart")
	}
	if c.Noop {
		// The floor runs with the bidder's collector setting, or its small heap would be
		// collected many times a second and the floor would measure the collector.
		if c.GCPercent > 0 {
			debug.SetGCPercent(c.GCPercent)
		}
		return listenAndServe(ctx, server.New(server.NoOp{}, func() string { return "noop" }, preg, logger), c.Addr, stdout, parts)
	}
	dir := c.Registry
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "ads-registry-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	fcfg := regfs.DefaultConfig()
	fcfg.Dir, fcfg.Logger = dir, logger
	rstore, err := regfs.Open(fcfg)
	if err != nil {
		return err
	}
	rcfg := registry.DefaultConfig()
	rcfg.Logger = logger
	reg, err := registry.New(rstore, rcfg)
	if err != nil {
		return err
	}
	lcfg := eventlog.DefaultConfig()
	lcfg.URL, lcfg.Name, lcfg.Logger = c.NATS, "adsranking-serve", logger
	elog, err := eventlog.Open(ctx, lcfg)
	if err != nil {
		return err
	}
	defer elog.Close()
	freg := features.NewRegistry()
	if err := profiles.Register(freg); err != nil {
		return err
	}
	online, err := openStore(c.Store, freg, logger)
	if err != nil {
		return err
	}
	defer online.Close()
	metrics, err := bidder.NewMetrics(preg)
	if err != nil {
		return err
	}
	t0 := time.Now()
	fmt.Fprintf(stdout, "adsranking serve: starting (trains a click model on %d requests if the registry %s has no champion)...\n", c.Live.TrainRequests, dir)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sys, err := live.Start(sctx, c.Live, live.Deps{Log: elog, Registry: reg, Store: online, Metrics: metrics, Registerer: preg, Logger: logger, Tokenizer: tok})
	if err != nil {
		return err
	}
	snap := sys.Index.Snapshot()
	fmt.Fprintf(stdout, "adsranking serve: ready in %.1f s: %s, %d campaigns, %d ads, %d users, pacing %s, event log %s\n",
		time.Since(t0).Seconds(), sys.Bidder.Model().Version, snap.Campaigns(), len(snap.Ads()), len(sys.World.Users), sys.Pacer.Name(), elog.URL())
	debug.FreeOSMemory()
	if c.GCPercent > 0 {
		debug.SetGCPercent(c.GCPercent)
	}
	parts = append(parts, func(ctx context.Context) error {
		stop := context.AfterFunc(ctx, cancel) // the process stopping stops the system
		defer stop()
		return sys.Wait()
	})
	return listenAndServe(ctx, server.New(sys, func() string { return sys.Bidder.Model().Version }, preg, logger), c.Addr, stdout, parts)
}

// listenAndServe serves h on addr beside the other parts until ctx ends or one fails.
func listenAndServe(ctx context.Context, h http.Handler, addr string, stdout io.Writer, parts []cli.Part) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := cli.NewServer(h)
	hs.ReadTimeout = 10 * time.Second
	fmt.Fprintf(stdout, "adsranking serve: listening on http://%s (POST /openrtb2/auction)\n", ln.Addr())
	return cli.Run(ctx, append(parts, cli.Serve(hs, ln))...)
}

// tokenizer is the PII key of a run: from CASEBOOK_PII_KEY_FILE or CASEBOOK_PII_KEY when
// set; otherwise, on the memory store, a key made for this process (`adsranking serve`
// materializes the profiles and answers the bid requests, whose user.id arrives raw, in one
// process, so no other process needs the key); on a Redis store without a key it refuses
// to start, since the profiles there outlive the process and are shared by instances.
func tokenizer(getenv func(string) string, local bool) (*pii.Tokenizer, error) {
	tok, err := pii.ForRun(getenv, local, pii.NewEphemeral)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", scenario.ErrUsage, err)
	}
	return tok, nil
}
