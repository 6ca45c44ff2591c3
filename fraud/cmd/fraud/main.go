// Command fraud is the Casebook case study for fraud detection: the handbook's transaction
// simulator, its features computed by the platform's feature store, and its evaluation
// protocol with models selected through the registry's gates.
//
//	fraud simulate [--customers N --terminals N --days N --seed N --unix-nanos] --out FILE
//	fraud features --csv IN --out OUT [--offline-dir DIR]
//	fraud eval --csv FILE [--json] [--scores-out FILE] [--grid default|small|full] [--bucket 1s|1h] [--test-folds N]
//	           [--registry DIR] [--offline-dir DIR] [--train-start DAY]
//	fraud train --csv FILE [--json] [--offline-dir DIR]
//	fraud stream [--nats embedded|URL --port N --store memory|redis://HOST:PORT --metrics ADDR --http ADDR --csv FILE ...]
//	fraud compare --csv FILE [--nats URL] [--train-start DAY]
//	fraud scenario list | run NAME
//	fraud healthcheck [--url URL]
//
// Every command answers -h with its flags. CASEBOOK_LOG_LEVEL (debug, info, warn, error,
// off; default info) sets the level of the components' logs on stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/casebook-ml/casebook/fraud/internal/casestudy"
	"github.com/casebook-ml/casebook/fraud/internal/eval"
	"github.com/casebook-ml/casebook/fraud/internal/live"
	fraudscenarios "github.com/casebook-ml/casebook/fraud/internal/scenarios"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/seal"
)

// healthURL is fraud stream's health endpoint on its default metrics address: what `fraud
// healthcheck` (the image's HEALTHCHECK) asks, and what deploy/k8s probes (checked there).
const healthURL = "http://127.0.0.1:9464/healthz"

const usage = `usage:
  fraud simulate [--customers N --terminals N --days N --seed N --unix-nanos] --out FILE
  fraud features --csv IN --out OUT [--offline-dir DIR]
  fraud eval --csv FILE [--json] [--scores-out FILE] [--grid default|small|full] [--bucket 1s|1h] [--registry DIR] [--offline-dir DIR]
  fraud train --csv FILE [--json] [--offline-dir DIR]
  fraud stream [--nats embedded|URL --store memory|redis://HOST:PORT --metrics ADDR --http ADDR --csv FILE ...]
  fraud compare --csv FILE [--nats URL] [--train-start DAY]
  fraud scenario list | names | run NAME... [--json FILE]
  fraud healthcheck [--url URL]   exit 0 when fraud stream answers /healthz on its metrics address (a container's HEALTHCHECK)
Each command answers -h with its flags. Environment: CASEBOOK_LOG_LEVEL, CASEBOOK_DATA_KEY (seals the
registry's artifacts and the offline store's Parquet files at rest; see platform/seal).`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit("fraud", err, os.Stdout, os.Stderr))
}

// mainErr reads the environment and the command line, and runs the command.
func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	logger, err := cli.NewLogger(os.Getenv(cli.LogLevelEnv), stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	cfg.Stream.Logger = logger
	kr, err := seal.KeyringFromEnv()
	if err != nil {
		return err
	}
	cfg.Keyring, cfg.Eval.Keyring, cfg.Train.Keyring = kr, kr, kr
	return run(ctx, cfg, stdout, stderr)
}

// Config is one parsed command line.
type Config struct {
	Command    string
	Sim        sim.Config
	TimeFmt    sim.TimeFormat
	In, Out    string
	OfflineDir string // features: keep the offline store here
	// Keyring (from CASEBOOK_DATA_KEY) seals registry artifacts and offline Parquet files.
	Keyring  *seal.Keyring
	Eval     casestudy.EvalConfig
	Train    casestudy.TrainConfig
	Compare  casestudy.CompareConfig
	Scenario []string
	Health   []string // healthcheck's flags
	Stream   live.StreamConfig
}

func parse(args []string) (Config, error) {
	if len(args) == 0 {
		return Config{}, cli.Usage(usage, "no command")
	}
	if cli.IsHelp(args[0]) {
		return Config{}, cli.Help(usage)
	}
	cfg := Config{Command: args[0], Sim: sim.DefaultConfig(), Eval: casestudy.DefaultEvalConfig(), Train: casestudy.DefaultTrainConfig(), Compare: casestudy.DefaultCompareConfig()}
	const offlineHelp = "offline feature store directory to build the training set through, kept afterwards (default: a temporary one, removed)"
	fs := flag.NewFlagSet("fraud "+args[0], flag.ContinueOnError)
	nanos := fs.Bool("unix-nanos", false, "write TX_DATETIME as Unix nanoseconds instead of YYYY-MM-DD HH:MM:SS")
	switch cfg.Command {
	case "scenario":
		cfg.Scenario = args[1:]
		return cfg, nil
	case "healthcheck":
		cfg.Health = args[1:]
		return cfg, nil
	case "stream":
		var err error
		cfg.Stream, err = parseStream(args[1:])
		return cfg, err
	case "simulate":
		fs.IntVar(&cfg.Sim.Customers, "customers", cfg.Sim.Customers, "customers")
		fs.IntVar(&cfg.Sim.Terminals, "terminals", cfg.Sim.Terminals, "terminals")
		fs.IntVar(&cfg.Sim.Days, "days", cfg.Sim.Days, "days from 2018-04-01")
		fs.Uint64Var(&cfg.Sim.Seed, "seed", cfg.Sim.Seed, "random seed")
		fs.StringVar(&cfg.Out, "out", "", "CSV file to write")
	case "features":
		fs.StringVar(&cfg.In, "csv", "", "transaction CSV in the handbook's columns")
		fs.StringVar(&cfg.Out, "out", "", "CSV file to write with the features")
		fs.StringVar(&cfg.OfflineDir, "offline-dir", "", offlineHelp)
	case "eval":
		e := &cfg.Eval
		fs.StringVar(&e.CSV, "csv", "", "transaction CSV in the handbook's columns")
		fs.BoolVar(&e.JSON, "json", false, "print the report as JSON")
		fs.StringVar(&e.ScoresOut, "scores-out", "", "write MODEL,TRANSACTION_ID,SCORE of every candidate on the test days")
		fs.StringVar(&e.Grid, "grid", e.Grid, "candidate models: "+eval.GridNames()+" (full: the model selection over boosted trees and random forests)")
		fs.DurationVar(&e.Bucket, "bucket", e.Bucket, "feature windows' bucket: 1s is the handbook's windows exactly; 1h is the streaming system's")
		fs.IntVar(&e.Protocol.TestFolds, "test-folds", e.Protocol.TestFolds, "prequential test folds a week apart (1: the test week alone)")
		fs.StringVar(&e.Registry, "registry", "", "fs registry directory to register the candidates in (default: a temporary one)")
		fs.StringVar(&e.OfflineDir, "offline-dir", "", offlineHelp)
		fs.IntVar(&e.Protocol.Split.TrainStart, "train-start", -1, "first training day (TX_TIME_DAYS); -1: the handbook's day 115 if the data covers it, else the latest block")
		fs.IntVar(&e.Protocol.TopK, "k", e.Protocol.TopK, "cards per day for card precision@k")
		fs.IntVar(&e.Protocol.Folds, "folds", e.Protocol.Folds, "prequential validation folds")
	case "compare":
		cc := &cfg.Compare
		fs.StringVar(&cc.CSV, "csv", "", "the transaction CSV the stream replayed (fraud stream --csv, loadgen --workload fraud:csv=)")
		fs.StringVar(&cc.NATS, "nats", cc.NATS, "NATS server holding the stream's decisions")
		fs.IntVar(&cc.Protocol.Split.TrainStart, "train-start", -1, "first training day of the batch protocol; -1: the handbook's day 115 if the data covers it, else the latest block")
		fs.IntVar(&cc.Protocol.TopK, "k", cc.Protocol.TopK, "cards per day for card precision@k")
	case "train":
		tc := &cfg.Train
		fs.StringVar(&tc.CSV, "csv", "", "transaction CSV in the handbook's columns")
		fs.BoolVar(&tc.JSON, "json", false, "print the timings as JSON")
		fs.StringVar(&tc.OfflineDir, "offline-dir", "", offlineHelp)
	default:
		return cfg, cli.Usage(usage, "unknown command %q", cfg.Command)
	}
	if err := cli.Parse(fs, synopses[cfg.Command], args[1:]); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%w: %s: unexpected argument %q", scenario.ErrUsage, cfg.Command, fs.Arg(0))
	}
	if *nanos {
		cfg.TimeFmt = sim.TimeUnixNano
	}
	if cfg.Command == "compare" && cfg.Compare.CSV == "" {
		return cfg, fmt.Errorf("%w: compare needs --csv", scenario.ErrUsage)
	}
	if cfg.Command != "eval" && cfg.Command != "train" && cfg.Command != "compare" && cfg.Out == "" {
		return cfg, fmt.Errorf("%w: %s needs --out", scenario.ErrUsage, cfg.Command)
	}
	if cfg.Command == "features" && cfg.In == "" {
		return cfg, fmt.Errorf("%w: features needs --csv", scenario.ErrUsage)
	}
	if cfg.Command == "train" && cfg.Train.CSV == "" {
		return cfg, fmt.Errorf("%w: train needs --csv", scenario.ErrUsage)
	}
	return cfg, nil
}

// synopses are the commands' first lines of -h.
var synopses = map[string]string{
	"simulate": "fraud simulate [flags] --out FILE\n  writes the handbook's simulated transactions as CSV",
	"features": "fraud features --csv IN --out OUT [--offline-dir DIR]\n  computes the handbook's features through the feature store",
	"eval":     "fraud eval --csv FILE [flags]\n  the handbook's evaluation protocol, models chosen through the registry's gates",
	"train":    "fraud train --csv FILE [--json] [--offline-dir DIR]\n  times the training of each model family",
	"compare":  "fraud compare --csv FILE [--nats URL] [--train-start DAY]\n  the streaming system's decisions on a replayed CSV beside the batch protocol's scores, on the same test transactions",
}

func run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	switch cfg.Command {
	case "scenario":
		return scenarios().Command(ctx, cfg.Scenario, stdout)
	case "stream":
		return live.RunStream(ctx, cfg.Stream, stdout)
	case "healthcheck":
		return cli.HealthCommand(ctx, "fraud", healthURL, cfg.Health, stdout)
	case "simulate":
		f, err := os.Create(cfg.Out)
		if err != nil {
			return err
		}
		if err := casestudy.Simulate(ctx, cfg.Sim, cfg.TimeFmt, f, stderr); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	case "features":
		return casestudy.WriteFeatures(ctx, casestudy.FeaturesConfig{In: cfg.In, Out: cfg.Out, OfflineDir: cfg.OfflineDir, TimeFmt: cfg.TimeFmt, Keyring: cfg.Keyring}, stderr)
	case "eval":
		return casestudy.Eval(ctx, cfg.Eval, stdout)
	case "train":
		return casestudy.Train(ctx, cfg.Train, stdout)
	case "compare":
		return casestudy.Compare(ctx, cfg.Compare, stdout)
	}
	return cli.Usage(usage, "unknown command %q", cfg.Command)
}

// scenarios lists what this binary can demonstrate.
func scenarios() scenario.Set { return fraudscenarios.Set() }
