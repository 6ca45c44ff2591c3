package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

const serveUsage = `mlp serve [--dir DIR | --nats URL] [flags]
  Serves registry models over the Open Inference Protocol (v2) REST API:
  POST /v2/models/NAME/infer, GET /v2/models/NAME, /v2/health/{live,ready}, /metrics.`

// serveAddr is mlp serve's default listen address (healthURL asks it).
const serveAddr = "127.0.0.1:8080"

// predictionLogMaxAge is how long mlp serve's prediction log keeps records: a week of
// label delay for the outcome join.
const predictionLogMaxAge = 7 * 24 * time.Hour

// serveCmd runs the model server until ctx ends.
func serveCmd(ctx context.Context, args []string, cfg walkthrough.Config, stdout io.Writer) error {
	usageErr := func(msg string) error { return fmt.Errorf("%w: %s\n%s", scenario.ErrUsage, msg, serveUsage) }
	fs := flag.NewFlagSet("mlp serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var sf storeFlags
	sf.add(fs)
	def := serving.DefaultModelConfig("x")
	addr := fs.String("addr", serveAddr, "listen address")
	models := fs.String("models", "", "comma-separated models (default: all with the alias)")
	alias := fs.String("alias", registry.Champion, "alias each model follows")
	canary := fs.String("canary", "", "ALIAS:PERCENT: serve that alias to PERCENT% of request keys")
	shadow := fs.String("shadow", "", "mirror requests to this alias and compare")
	maxBatch := fs.Int("max-batch", def.Batch.MaxBatch, "most rows per Predict call")
	maxDelay := fs.Duration("max-delay", def.Batch.MaxQueueDelay, "longest wait to fill a batch")
	workers := fs.Int("workers", def.Batch.Workers, "batches of one model running at once")
	queue := fs.Int("queue", def.Batch.QueueSize, "queued requests per model")
	sla := fs.Duration("sla", def.SLA, "default deadline")
	prio := fs.Int("priority", def.Priority, "class, 0 highest")
	slots := fs.Int("slots", 0, "CPU slots (0: GOMAXPROCS)")
	keys := fs.String("keys", "", "API keys JSON file: [{\"Key\":..,\"Tenant\":..,\"Models\":[\"*\"],\"Admin\":false}]")
	demo := fs.Bool("demo", false, "first register demo models (demo-lr: logistic regression, demo-gbdt: 100 trees; 15 features) if the registry lacks them")
	featureService := fs.String("feature-service", "", "feature service every served model is fed: a version trained on another (its recorded schema hash differs) is refused, initially and on alias moves, and the previous version keeps answering")
	predLog := fs.Bool("prediction-log", false, "publish answers and shadow comparisons to the event log (embedded NATS, or $CASEBOOK_NATS_URL), streams PREDICTIONS and OUTCOMES, kept a week")
	if _, err := parseInterleaved(fs, serveUsage, args); err != nil {
		return err
	}
	reg, closeFn, err := sf.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeFn()
	if *demo {
		if err := registerDemo(ctx, reg, stdout); err != nil {
			return err
		}
	}
	sc := serving.DefaultConfig()
	sc.Logger, sc.Slots = cfg.Logger, *slots
	if *featureService != "" {
		freg, err := trainFeatureRegistry()
		if err != nil {
			return err
		}
		if _, err := freg.Service(*featureService); err != nil {
			return usageErr(fmt.Sprintf("--feature-service: %v (known: %s)", err, trainService))
		}
		sc.Features = freg
	}
	if *keys != "" {
		path := *keys
		read := func(context.Context) ([]serving.APIKey, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			var ks []serving.APIKey
			if err := json.Unmarshal(b, &ks); err != nil {
				return nil, fmt.Errorf("keys %s: %w", path, err)
			}
			return ks, nil
		}
		var err error
		if sc.Keys, err = read(ctx); err != nil {
			return err
		}
		sc.KeysSource = read // POST /v2/casebook/keys/reload re-reads the file
	}
	if *predLog {
		lc := eventlog.DefaultConfig()
		lc.Logger = cfg.Logger
		if cfg.NATSURL != "" {
			lc.URL = cfg.NATSURL
		}
		l, err := eventlog.Open(ctx, lc)
		if err != nil {
			return fmt.Errorf("prediction log: %w", err)
		}
		defer l.Close()
		if err := predlog.EnsureStreams(ctx, l, predictionLogMaxAge); err != nil {
			return err
		}
		sc.PredictionLog = l
		fmt.Fprintf(stdout, "prediction log: stream %s (%s) on %s\n", predlog.PredictionStream, predlog.PredictionSubject("MODEL"), l.URL())
	}
	names := strings.Split(*models, ",")
	if *models == "" {
		all, err := reg.Models(ctx)
		if err != nil {
			return err
		}
		names = names[:0]
		for _, n := range all {
			if _, err := reg.Resolve(ctx, n, *alias); err == nil {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return usageErr("no model has alias " + *alias + " (try --demo)")
	}
	for _, n := range names {
		mc := serving.DefaultModelConfig(n)
		mc.Alias, mc.ShadowAlias, mc.SLA, mc.Priority, mc.FeatureService = *alias, *shadow, *sla, *prio, *featureService
		mc.FallbackReserve = min(mc.FallbackReserve, *sla/5)
		mc.Batch = serving.BatchConfig{MaxBatch: *maxBatch, MaxQueueDelay: *maxDelay, Workers: *workers, QueueSize: *queue}
		if *canary != "" {
			a, p, ok := strings.Cut(*canary, ":")
			if _, err := fmt.Sscanf(p, "%g", &mc.CanaryPercent); !ok || err != nil {
				return usageErr("--canary wants ALIAS:PERCENT")
			}
			mc.CanaryAlias = a
		}
		sc.Models = append(sc.Models, mc)
	}
	prom := prometheus.NewRegistry()
	prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sc.Registerer, sc.Gatherer = prom, prom
	srv, err := serving.New(ctx, reg, sc)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving %s on http://%s (POST /v2/models/NAME/infer)\n", strings.Join(names, ", "), ln.Addr())
	return cli.Run(ctx, cli.Serve(cli.NewServer(srv.Handler()), ln))
}

// registerDemo trains and registers two small models on the fraud-like generator, once.
func registerDemo(ctx context.Context, reg *registry.Registry, stdout io.Writer) error {
	data := servingtest.Data(20000, 15, 11)
	for _, name := range []string{"demo-lr", "demo-gbdt"} {
		if _, err := reg.Resolve(ctx, name, registry.Champion); err == nil {
			continue
		}
		var (
			m   ml.Model
			err error
		)
		if name == "demo-lr" {
			m, err = servingtest.LogReg(ctx, data.Dataset)
		} else {
			m, err = servingtest.GBDT(ctx, data.Dataset, 100, 6)
		}
		if err != nil {
			return err
		}
		v, err := servingtest.Register(ctx, reg, name, m, registry.Champion)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "registered %s v%d (%s, %d features) as champion\n", name, v.Number, m.Family(), m.Schema().Len())
	}
	return nil
}
