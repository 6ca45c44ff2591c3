package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
)

// loopOpts are the flags of mlp monitor --loop.
type loopOpts struct {
	on            bool
	store         storeFlags
	registryKV    bool
	interval      time.Duration
	family        string
	checkpoints   string
	minTrain      int
	minLabelled   int
	canaryTimeout time.Duration
	metrics       string
}

func (o *loopOpts) add(fs *flag.FlagSet) {
	def := monitoring.DefaultLoopConfig("x")
	fs.BoolVar(&o.on, "loop", false, "run the retraining loop until interrupted")
	fs.StringVar(&o.store.dir, "dir", defaultRegistryDir(), "registry directory (filesystem store)")
	fs.BoolVar(&o.registryKV, "registry-kv", false, "use the registry on the --nats server (JetStream KV + Object Store)")
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "how often the loop reads the log and decides")
	fs.StringVar(&o.family, "family", "gbdt", "model family of the challenger: gbdt or logreg")
	fs.StringVar(&o.checkpoints, "checkpoints", filepath.Join(".casebook", "pipeline"), "pipeline checkpoint directory")
	fs.IntVar(&o.minTrain, "min-train", def.MinTrainRows, "joined rows since the drift a retraining needs")
	fs.IntVar(&o.minLabelled, "min-labelled", def.Judge.MinLabelled, "joined outcomes per side before the canary is judged")
	fs.DurationVar(&o.canaryTimeout, "canary-timeout", def.CanaryTimeout, "event time a canary may wait for a verdict before it is removed")
	fs.StringVar(&o.metrics, "metrics", "", "serve the monitoring metrics on Prometheus /metrics at this address, e.g. 127.0.0.1:9465 (empty: not served)")
}

// loopConfig builds the loop's config from the flags.
func loopConfig(model string, refN int, o loopOpts, cfg walkthrough.Config) (monitoring.LoopConfig, error) {
	lc := monitoring.DefaultLoopConfig(model)
	lc.Actor = "mlp-monitor-loop"
	lc.Reference, lc.MinTrainRows, lc.CanaryTimeout = refN, o.minTrain, o.canaryTimeout
	lc.Join.KeepRows = max(lc.Join.KeepRows, o.minTrain)
	lc.Judge.MinLabelled = o.minLabelled
	lc.Pipeline.CheckpointDir, lc.Pipeline.Logger = o.checkpoints, cfg.Logger
	lc.Train.Name, lc.Train.HoldoutFraction, lc.Train.SplitSeed, lc.Train.LatencySamples = model+"-on-drift", 0.2, 1, 1000
	lc.Train.Gates = registry.DefaultGates()
	lc.Train.CodeVersion = "mlp monitor --loop (casebook platform)"
	lc.Train.IntendedUse = "A challenger retrained on production traffic joined with its outcomes after a drift alert; it serves as canary until it earns the champion alias online."
	if err := setFamily(&lc.Train, o.family); err != nil {
		return lc, err
	}
	return lc, lc.Validate()
}

// runLoop runs the retraining loop on l until ctx ends, printing every step that decided
// something. With --metrics it also serves /metrics: the loop's monitor, join and alerter
// update the monitoring metrics as they compute, and the server and the loop run as one
// process (the first to fail stops the other, and runLoop returns its error).
func runLoop(ctx context.Context, l *eventlog.Log, o monitorOpts, cfg walkthrough.Config, w io.Writer) error {
	lc, err := loopConfig(o.model, o.refN, o.loop, cfg)
	if err != nil {
		return err
	}
	// Take the metrics address first: a port in use fails now, not after the registry opened.
	var metricsLn net.Listener
	if o.loop.metrics != "" {
		ln, err := net.Listen("tcp", o.loop.metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer ln.Close()
		metricsLn = ln
	}
	promReg := prometheus.NewRegistry()
	met, err := monitoring.NewMetrics(promReg)
	if err != nil {
		return err
	}
	store := o.loop.store
	if o.loop.registryKV {
		store.nats = l.URL()
	}
	reg, closeReg, err := store.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeReg()
	// The prediction log's streams are serving's (mlp serve makes them with its retention);
	// the loop reads them as they are, waits for them if they are missing, and writes alerts.
	if _, err := l.EnsureStream(ctx, monitoring.AlertStreamConfig(0)); err != nil {
		return fmt.Errorf("loop of %s: %w", o.model, err)
	}
	champ, err := reg.Resolve(ctx, o.model, registry.Champion)
	if err != nil {
		return fmt.Errorf("loop of %s: %w", o.model, err)
	}
	lc.Train.Gates.ServingSchemaHash = champ.SchemaHash // a challenger must read what serving provides
	loop, err := monitoring.NewLoop(ctx, lc, l, reg, l, met, cfg.Logger)
	if err != nil {
		return err
	}
	parts := []cli.Part{func(ctx context.Context) error {
		return loop.Run(ctx, o.loop.interval, func(st monitoring.LoopStep) {
			for _, a := range st.Alerts {
				fmt.Fprintf(w, "%s  alert %s %s: %s = %.4g\n", st.At.Format(time.RFC3339), a.Rule, a.State, a.Signal, a.Value)
			}
			if st.Action != "observe" {
				fmt.Fprintf(w, "%s  %s → %s: %s\n", st.At.Format(time.RFC3339), st.Action, st.Phase, st.Detail)
			}
		})
	}}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
		serve := cli.Serve(cli.NewServer(mux), metricsLn)
		parts = append(parts, func(ctx context.Context) error {
			if err := serve(ctx); err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
			return nil
		})
		fmt.Fprintf(w, "metrics: http://%s/metrics\n", metricsLn.Addr())
	}
	fmt.Fprintf(w, "loop: %s champion v%d, phase %s; reading %s and %s on %s every %v (interrupt to stop)\n",
		o.model, champ.Number, loop.Phase(), predlog.PredictionSubject(o.model), predlog.OutcomeSubject(o.model), l.URL(), o.loop.interval)
	err = cli.Run(ctx, parts...)
	fmt.Fprintf(w, "loop: stopped in phase %s after reading %d predictions\n", loop.Phase(), loop.Seen())
	return err
}
