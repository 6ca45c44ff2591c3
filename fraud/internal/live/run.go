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
	// CSV, when set, is a transaction CSV in the handbook's layout (sim.ReadCSV) used
	// instead of the simulation: the model trains on its days before Live.StreamFrom and
	// the features are warmed with them; the rest is what a producer (loadgen's fraud
	// workload with csv=) replays.
	CSV string
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
	// OnlineQuality (needs PredictionLog) runs the system's own online quality beside the
	// scorer: chargebacks become outcomes on monitoring's outcome stream, joined to the
	// prediction log in event time, and each model version's online AUC, precision at the
	// review budget per day and label coverage are exported on /metrics (Quality).
	// QualityDays is its window in days.
	OnlineQuality bool
	QualityDays   int
	// GCPercent is the garbage collector's target (GOGC) for the process: the embedded NATS
	// server, the scorer and the serving layer share one heap, and on two cores every
	// collection takes one of them for its marking, a brownout of a few hundred
	// milliseconds. 400 makes them about four times rarer for about 2.5× the heap.
	GCPercent int
	// TxDuplicates is the transaction stream's duplicates window (events.TxDuplicatesWindow
	// when zero): how long a producer may take to retry a publish without it being stored
	// twice. The server holds every id of the window in memory.
	TxDuplicates time.Duration
	// Noop runs the benchmark's floor instead of the fraud system: the same event log,
	// consumer and decisions, but every transaction approved without features or a model
	// (stream.NewNoop); nothing is simulated or trained.
	Noop bool
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
		MetricsAddr: "127.0.0.1:9464", HTTPTimeout: 2 * time.Second, BatchSize: 1024, MaxAckPending: 4096, PredictionLog: true, OnlineQuality: true, QualityDays: 7, GCPercent: 400, Progress: 5 * time.Second}
}

// Validate reports what cannot work before anything starts.
func (c StreamConfig) Validate() error {
	var errs []error
	if err := c.Sim.Validate(); err != nil && c.CSV == "" {
		errs = append(errs, err)
	}
	if err := c.Live.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Live.StreamFrom >= c.Sim.Days && c.CSV == "" {
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
	if c.OnlineQuality && !c.PredictionLog {
		errs = append(errs, errors.New("online quality joins the prediction log: it needs the prediction log on"))
	}
	if c.OnlineQuality && c.QualityDays < 1 {
		errs = append(errs, fmt.Errorf("online quality window of %d days: want at least 1", c.QualityDays))
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
	stats := &stream.Stats{}
	met, err := stream.NewMetrics(reg, stats)
	if err != nil {
		return err
	}
	var sc *stream.Scorer
	var review float64 // the model's review threshold (online quality's budget line)
	if cfg.Noop {
		sc = stream.NewNoop(log, stats, met)
		fmt.Fprintf(out, "no-op scorer (the benchmark floor): every transaction approved without features or model\n")
	} else {
		var done func()
		if sc, review, done, err = buildScorer(ctx, cfg, log, reg, stats, met, out); err != nil {
			return err
		}
		defer done()
	}

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
		// The metrics server starts once the model is trained and the features warm, so
		// /healthz answering is readiness too (a container's health check, a probe).
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
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
	if cfg.OnlineQuality && !cfg.Noop { // the floor scores nothing, so it has no quality
		qc := DefaultQualityConfig(cfg.Live.LabelDelay, cfg.Live.ReviewBudget, review)
		qc.Days = cfg.QualityDays
		q, err := NewQuality(qc, log, reg)
		if err != nil {
			return err
		}
		parts = append(parts, q.Outcomes, q.Join, q.Export)
		fmt.Fprintf(out, "online quality: chargebacks joined to the prediction log in event time (horizon %v), over the last %d due days, precision at %d a day\n",
			qc.Join().Horizon, qc.Days, qc.ReviewBudget)
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

// buildScorer simulates, trains, serves and warms the fraud system for RunStream; done
// releases what it holds once the scorer has stopped.
func buildScorer(ctx context.Context, cfg StreamConfig, log *eventlog.Log, reg *prometheus.Registry, stats *stream.Stats, met *stream.Metrics, out io.Writer) (sc *stream.Scorer, review float64, done func(), err error) {
	var closers []func()
	done = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			done()
		}
	}()
	cfg.Live.Metrics = reg
	if cfg.PredictionLog {
		if err := monitoring.EnsureStreams(ctx, log, time.Hour); err != nil {
			return nil, 0, nil, err
		}
		cfg.Live.PredictionLog = log
	}
	var txs []sim.Transaction
	if cfg.CSV != "" {
		if txs, err = sim.ReadCSVFile(cfg.CSV); err != nil {
			return nil, 0, nil, err
		}
		fmt.Fprintf(out, "read %d transactions from %s\n", len(txs), cfg.CSV)
	} else {
		d, err := sim.Generate(ctx, cfg.Sim)
		if err != nil {
			return nil, 0, nil, err
		}
		txs = d.Transactions
	}
	sys, err := Build(ctx, cfg.Live, txs)
	if err != nil {
		return nil, 0, nil, err
	}
	closers = append(closers, sys.Close)
	if sys.LiveTx == 0 {
		return nil, 0, nil, fmt.Errorf("no transactions from day %d on to stream: the data ends before the stream starts (--start)", cfg.Live.StreamFrom)
	}
	txs = nil
	fmt.Fprintf(out, "PII: %s\n", cfg.Live.Tokenizer.Policy("customer ids"))
	fmt.Fprintf(out, "model v%d (logistic regression) trained on days 0-%d, validation AUC %.3f; review at ≥ %.4f, decline at ≥ %.4f\n",
		sys.Version.Number, cfg.Live.TrainEnd-1, sys.ValidAUC, sys.Thresholds.Review, sys.Thresholds.Decline)

	store, err := onlinestore.Open(cfg.Store, sys.Features, cfg.Logger)
	if err != nil {
		return nil, 0, nil, err
	}
	closers = append(closers, func() { store.Close() })
	sc, err = sys.Scorer(ctx, log, store, stats, met)
	if err != nil {
		return nil, 0, nil, err
	}
	fmt.Fprintf(out, "features warmed with %d history events (days 0-%d) in the %s online store\n", len(sys.History), cfg.Live.StreamFrom-1, cfg.Store)
	// The simulation served its purpose (training, thresholds, the warm features); the
	// live events come from the load generator. Drop them so the garbage collector does not
	// trace a few hundred megabytes of history on every cycle while the stream runs.
	sys.Txs, sys.History, sys.Live = nil, nil, nil
	runtime.GC()
	return sc, sys.Thresholds.Review, done, nil
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
