package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features/onlinestore"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
)

// StreamConfig is `fraud stream`: the streaming system as a long-running process that a
// load generator feeds over NATS.
type StreamConfig struct {
	Sim  sim.Config
	Live Config
	// NATS is eventlog.EmbeddedURL (an in-process server listening on Port) or a server URL.
	NATS string
	Port int
	// Store is "memory" or "redis://HOST:PORT".
	Store string
	// MetricsAddr serves Prometheus /metrics (empty: not served).
	MetricsAddr string
	// HTTPAddr serves the synchronous scoring endpoint, POST /v1/transactions/score
	// (stream.ScoreAPI), beside the stream (empty: not served). HTTPTimeout bounds the
	// wait for one decision.
	HTTPAddr    string
	HTTPTimeout time.Duration
	// BatchSize bounds a scorer batch; MaxAckPending the transactions in flight. A batch is
	// whatever has arrived when the scorer is free, so at a steady 20,000/s it holds about
	// 20; the bound matters when the scorer falls behind (a garbage collection of the shared
	// heap slows it several times over): catching up in batches of 1,024 instead of 256 pays
	// the per-batch round trips a quarter as often, and cut the p99 at 20,000/s by about half
	// (docs/benchmarks.md).
	BatchSize, MaxAckPending int
	// PredictionLog logs every model score to the event log (stream PREDICTIONS) for the
	// monitoring to join chargebacks to.
	PredictionLog bool
	// GCPercent is the garbage collector's target (GOGC) for the process: the embedded NATS
	// server, the scorer and the serving layer share one heap, and on two cores every
	// collection takes one of them for its marking, a brownout of a few hundred
	// milliseconds. 400 makes them about four times rarer for about 2.5× the heap.
	GCPercent int
	// TxDuplicates is the transaction stream's duplicates window (events.TxDuplicatesWindow
	// when zero): how long a producer may take to retry a publish without it being stored
	// twice. The server holds every id of the window in memory.
	TxDuplicates time.Duration
	// DecisionRetention is how long FRAUD_DECISIONS keeps decisions (0: forever). A
	// producer's retry is recognised for as long as its first decision is kept, and the
	// server holds an index entry per kept decision (about 127 bytes: each is on its
	// transaction's own subject), so this bounds both.
	DecisionRetention time.Duration
	// Pprof serves Go's profiler under /debug/pprof/ beside /metrics.
	Pprof bool
	// Progress is the interval of the progress line (0: none).
	Progress time.Duration
	// Logger receives the components' logs: the event log's reconnects and dead letters,
	// the online store's connection trouble, the registry's and the serving layer's. Nil
	// discards them.
	Logger *slog.Logger
}

// maxAckPending is the event log client's MaxAsyncPending here: a batch publishes all its
// decisions before waiting, so no more transactions may be in flight.
const maxAckPending = 4096

// DefaultStreamConfig runs on the local default: embedded NATS on port 4222, the memory
// online store, metrics on 127.0.0.1:9464, customer ids tokenized under the published demo
// key (the load generator's fraud workload uses the same, so their tokens agree).
func DefaultStreamConfig() StreamConfig {
	live := DefaultConfig()
	live.Tokenizer = pii.Demo() // the local default only: `fraud stream` replaces it from the environment
	return StreamConfig{Sim: sim.DefaultConfig(), Live: live, NATS: eventlog.EmbeddedURL, Port: 4222, Store: "memory",
		MetricsAddr: "127.0.0.1:9464", HTTPTimeout: 2 * time.Second, BatchSize: 1024, MaxAckPending: 4096, PredictionLog: true, GCPercent: 400, Progress: 5 * time.Second}
}

// Validate reports what cannot work before anything starts.
func (c StreamConfig) Validate() error {
	var errs []error
	if err := c.Sim.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Live.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Live.StreamFrom >= c.Sim.Days {
		errs = append(errs, fmt.Errorf("the stream starts on day %d but the simulation has %d days", c.Live.StreamFrom, c.Sim.Days))
	}
	if err := onlinestore.Check(c.Store); err != nil {
		errs = append(errs, err)
	}
	if c.BatchSize < 1 || c.MaxAckPending < c.BatchSize || c.MaxAckPending > maxAckPending {
		errs = append(errs, fmt.Errorf("want 1 ≤ batch (%d) ≤ max ack pending (%d) ≤ %d (the decisions one batch may have in flight)", c.BatchSize, c.MaxAckPending, maxAckPending))
	}
	if c.HTTPAddr != "" && c.HTTPTimeout <= 0 {
		errs = append(errs, fmt.Errorf("HTTP timeout %v: want a positive wait for a decision", c.HTTPTimeout))
	}
	if c.DecisionRetention < 0 {
		errs = append(errs, fmt.Errorf("decision retention %v: want 0 (forever) or a positive age", c.DecisionRetention))
	}
	if c.TxDuplicates < 0 || (c.TxDuplicates > 0 && c.TxDuplicates < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("transaction duplicates window %v: want at least 100ms (the server's least), or 0 for the default", c.TxDuplicates))
	}
	return errors.Join(errs...)
}

// RunStream builds the system, prints a "ready" line naming the NATS URL, then scores what
// arrives on fraud.tx until ctx ends, and prints a summary. The scorer, the metrics server
// and the progress line run as one process: the first to fail stops the others, and
// RunStream returns its error.
func RunStream(ctx context.Context, cfg StreamConfig, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	t0 := time.Now()
	// Take the listening addresses first: a port in use fails now, not after the training.
	var metricsLn, httpLn net.Listener
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer ln.Close()
		metricsLn = ln
	}
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("scoring endpoint: %w", err)
		}
		defer ln.Close()
		httpLn = ln
	}
	if cfg.GCPercent != 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	cfg.Live.Logger = cfg.Logger
	lc := eventlog.DefaultConfig()
	lc.URL = cfg.NATS
	lc.Embedded.Port = cfg.Port
	lc.MaxAsyncPending = maxAckPending
	lc.Logger = cfg.Logger
	log, err := eventlog.Open(ctx, lc)
	if err != nil {
		return err
	}
	defer log.Close()
	for _, sc := range events.Streams() {
		if sc.Name == events.TxStream && cfg.TxDuplicates > 0 {
			sc.Duplicates = cfg.TxDuplicates
		}
		if sc.Name == events.DecisionStream {
			sc.MaxAge = cfg.DecisionRetention
		}
		if _, err := log.EnsureStream(ctx, sc); err != nil {
			return err
		}
	}
	// A stream that holds events is a restart (after a crash, or a stop) when the scorer's
	// durable consumer exists: the scorer warms its features from the simulation as before,
	// then rebuilds them and the retry check from the log up to its ack floor, and goes on
	// from there, skipping the decisions the log already holds. Without the durable, the
	// events are someone else's (an old run with other flags): refuse them.
	if st, err := log.Stream(ctx, events.TxStream); err == nil && st.Messages > 0 {
		cs, cerr := log.ConsumerState(ctx, events.TxStream, stream.DefaultDurable)
		if cerr != nil {
			return fmt.Errorf("stream %s already holds %d events and has no %s consumer to resume (%v): start from an empty server (the scorer's features are warmed from the simulation, not from an old run)",
				events.TxStream, st.Messages, stream.DefaultDurable, cerr)
		}
		fmt.Fprintf(out, "resuming: %s holds %d events, %d acknowledged by %s; the features are rebuilt from the log\n", events.TxStream, st.Messages, cs.AckFloor, stream.DefaultDurable)
	}
	reg := prometheus.NewRegistry()
	cfg.Live.Metrics = reg
	if cfg.PredictionLog {
		if err := monitoring.EnsureStreams(ctx, log, time.Hour); err != nil {
			return err
		}
		cfg.Live.PredictionLog = log
	}
	d, err := sim.Generate(ctx, cfg.Sim)
	if err != nil {
		return err
	}
	sys, err := Build(ctx, cfg.Live, d.Transactions)
	if err != nil {
		return err
	}
	defer sys.Close()
	fmt.Fprintf(out, "PII: %s\n", cfg.Live.Tokenizer.Policy("customer ids"))
	fmt.Fprintf(out, "model v%d (logistic regression) trained on days 0-%d, validation AUC %.3f; review at ≥ %.4f, decline at ≥ %.4f\n",
		sys.Version.Number, cfg.Live.TrainEnd-1, sys.ValidAUC, sys.Thresholds.Review, sys.Thresholds.Decline)

	store, err := onlinestore.Open(cfg.Store, sys.Features, cfg.Logger)
	if err != nil {
		return err
	}
	defer store.Close()
	stats := &stream.Stats{}
	met, err := stream.NewMetrics(reg, stats)
	if err != nil {
		return err
	}
	sc, err := sys.Scorer(ctx, log, store, stats, met)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "features warmed with %d history events (days 0-%d) in the %s online store\n", len(sys.History), cfg.Live.StreamFrom-1, cfg.Store)
	// The simulation served its purpose (training, thresholds, the warm features); the
	// live events come from the load generator. Drop them so the garbage collector does not
	// trace a few hundred megabytes of history on every cycle while the stream runs.
	sys.Txs, sys.History, sys.Live = nil, nil, nil
	runtime.GC()

	cc := eventlog.DefaultConsumerConfig()
	cc.BatchSize, cc.MaxAckPending = cfg.BatchSize, cfg.MaxAckPending
	parts := []cli.Part{func(ctx context.Context) error {
		if err := sc.Run(ctx, cc); err != nil {
			return fmt.Errorf("scorer: %w", err)
		}
		return nil
	}}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		if cfg.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		}
		serve := cli.Serve(cli.NewServer(mux), metricsLn)
		parts = append(parts, func(ctx context.Context) error {
			if err := serve(ctx); err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
			return nil
		})
		fmt.Fprintf(out, "metrics: http://%s/metrics\n", metricsLn.Addr())
	}
	if httpLn != nil {
		api, err := stream.NewScoreAPI(log, sc, cfg.Live.Tokenizer, cfg.HTTPTimeout, cfg.Logger)
		if err != nil {
			return err
		}
		serve := cli.Serve(cli.NewServer(api.Handler()), httpLn)
		parts = append(parts, func(ctx context.Context) error {
			if err := serve(ctx); err != nil {
				return fmt.Errorf("scoring endpoint: %w", err)
			}
			return nil
		})
		fmt.Fprintf(out, "scoring: POST http://%s%s\n", httpLn.Addr(), stream.ScorePath)
	}
	if cfg.Progress > 0 {
		parts = append(parts, func(ctx context.Context) error { progress(ctx, cfg.Progress, stats, out); return nil })
	}
	fmt.Fprintf(out, "ready: nats %s, subjects %s and %s in, %s out (set up in %v)\n", log.URL(), events.TxSubject, events.LabelSubject,
		events.DecisionSubjects, time.Since(t0).Round(time.Millisecond))
	start := time.Now()
	err = cli.Run(ctx, parts...)
	n := stats.Model.Load() + stats.Rules.Load()
	fmt.Fprintf(out, "stopped after %v: %d decisions (%d model, %d rules), %d chargebacks, %d feature-store errors, %d batches (mean %.1f transactions)\n",
		time.Since(start).Round(time.Millisecond), n, stats.Model.Load(), stats.Rules.Load(), stats.Labels.Load(), stats.FeatureErrors.Load(),
		stats.Batches.Load(), float64(stats.BatchedTx.Load())/float64(max(1, stats.Batches.Load())))
	return err
}

// progress prints a progress line every interval until ctx ends.
func progress(ctx context.Context, every time.Duration, stats *stream.Stats, out io.Writer) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := stats.Model.Load() + stats.Rules.Load()
		up := "up"
		if stats.StoreDown.Load() {
			up = "DOWN"
		}
		fmt.Fprintf(out, "decisions %d (+%.0f/s), rules %d, feature errors %d, store %s\n", n, float64(n-last)/every.Seconds(),
			stats.Rules.Load(), stats.FeatureErrors.Load(), up)
		last = n
	}
}
