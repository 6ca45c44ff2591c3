// Command fraud is the Casebook case study for fraud detection: the handbook's transaction
// simulator, its features computed by the platform's feature store, and its evaluation
// protocol with models selected through the registry's gates.
//
//	fraud simulate [--customers N --terminals N --days N --seed N --unix-nanos] --out FILE
//	fraud features --csv IN --out OUT [--offline-dir DIR]
//	fraud eval --csv FILE [--json] [--scores-out FILE] [--registry DIR] [--offline-dir DIR] [--train-start DAY]
//	fraud train --csv FILE [--json] [--offline-dir DIR]
//	fraud stream [--nats embedded|URL --port N --store memory|redis://HOST:PORT --metrics ADDR ...]
//	fraud scenario list | run NAME
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/casebook-ml/casebook/fraud/internal/casestudy"
	"github.com/casebook-ml/casebook/fraud/internal/live"
	fraudscenarios "github.com/casebook-ml/casebook/fraud/internal/scenarios"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/scenario"
)

const usage = "fraud simulate --out FILE | features --csv IN --out OUT | eval --csv FILE [--json] [--scores-out FILE] | train --csv FILE | stream [flags] | scenario list|run NAME"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := parse(os.Args[1:])
	if err == nil {
		err = run(ctx, cfg, os.Stdout, os.Stderr)
	}
	switch {
	case err == nil:
	case errors.Is(err, scenario.ErrUsage), errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(os.Stderr, "fraud:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "fraud:", err)
		os.Exit(1)
	}
}

// Config is one parsed command line.
type Config struct {
	Command    string
	Sim        sim.Config
	TimeFmt    sim.TimeFormat
	In, Out    string
	OfflineDir string // features: keep the offline store here
	Eval       casestudy.EvalConfig
	Train      casestudy.TrainConfig
	Scenario   []string
	Stream     live.StreamConfig
}

func parse(args []string) (Config, error) {
	if len(args) == 0 {
		return Config{}, fmt.Errorf("%w: %s", scenario.ErrUsage, usage)
	}
	cfg := Config{Command: args[0], Sim: sim.DefaultConfig(), Eval: casestudy.DefaultEvalConfig(), Train: casestudy.DefaultTrainConfig()}
	const offlineHelp = "offline feature store directory to build the training set through, kept afterwards (default: a temporary one, removed)"
	fs := flag.NewFlagSet("fraud "+args[0], flag.ContinueOnError)
	nanos := fs.Bool("unix-nanos", false, "write TX_DATETIME as Unix nanoseconds instead of YYYY-MM-DD HH:MM:SS")
	switch cfg.Command {
	case "scenario":
		cfg.Scenario = args[1:]
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
		fs.StringVar(&e.ScoresOut, "scores-out", "", "write TRANSACTION_ID,SCORE of the selected model on the test days")
		fs.StringVar(&e.Registry, "registry", "", "fs registry directory to register the candidates in (default: a temporary one)")
		fs.StringVar(&e.OfflineDir, "offline-dir", "", offlineHelp)
		fs.IntVar(&e.Protocol.Split.TrainStart, "train-start", -1, "first training day (TX_TIME_DAYS); -1: the handbook's day 115 if the data covers it, else the latest block")
		fs.IntVar(&e.Protocol.TopK, "k", e.Protocol.TopK, "cards per day for card precision@k")
		fs.IntVar(&e.Protocol.Folds, "folds", e.Protocol.Folds, "prequential validation folds")
	case "train":
		tc := &cfg.Train
		fs.StringVar(&tc.CSV, "csv", "", "transaction CSV in the handbook's columns")
		fs.BoolVar(&tc.JSON, "json", false, "print the timings as JSON")
		fs.StringVar(&tc.OfflineDir, "offline-dir", "", offlineHelp)
	default:
		return cfg, fmt.Errorf("%w: unknown command %q: %s", scenario.ErrUsage, cfg.Command, usage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return cfg, fmt.Errorf("%w: %w", scenario.ErrUsage, err)
	}
	if *nanos {
		cfg.TimeFmt = sim.TimeUnixNano
	}
	if cfg.Command != "eval" && cfg.Command != "train" && cfg.Out == "" {
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

func run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	switch cfg.Command {
	case "scenario":
		return scenarios().Command(ctx, cfg.Scenario, stdout)
	case "stream":
		return live.RunStream(ctx, cfg.Stream, stdout)
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
		return casestudy.WriteFeatures(ctx, casestudy.FeaturesConfig{In: cfg.In, Out: cfg.Out, OfflineDir: cfg.OfflineDir, TimeFmt: cfg.TimeFmt}, stderr)
	case "eval":
		return casestudy.Eval(ctx, cfg.Eval, stdout)
	case "train":
		return casestudy.Train(ctx, cfg.Train, stdout)
	}
	return fmt.Errorf("%w: %s", scenario.ErrUsage, usage)
}

// scenarios lists what this binary can demonstrate.
func scenarios() scenario.Set { return fraudscenarios.Set() }
