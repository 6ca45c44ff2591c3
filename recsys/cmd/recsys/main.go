// Command recsys is the Casebook case study for a retrieval + ranking recommender: matrix
// factorization embeddings in an HNSW index gated on recall, features from the feature
// store, a boosted-trees ranker, a diversity re-rank, cold start, and feedback.
//
//	recsys eval [--ratings FILE | --train FILE --test FILE] [--json] [--recs-out FILE] [--embeddings bpr|ials] [--candidates N]
//	recsys serve [--addr HOST:PORT] [--ratings FILE | --size default|large] [--store memory|redis://HOST:PORT] [--registry DIR]
//	recsys simulate [--out FILE] [--seed N]
//	recsys healthcheck [--url URL]
//	recsys scenario list | run NAME
//
// CASEBOOK_LOG_LEVEL (debug, info, warn, error, off; default info) sets the level of the
// components' logs on stderr.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/scenario"
	recscenarios "github.com/casebook-ml/casebook/recsys/internal/scenarios"
)

// healthURL is recsys serve's health endpoint on its default address: what `recsys
// healthcheck` (the image's HEALTHCHECK) asks, and what deploy/k8s probes (checked there).
const healthURL = "http://127.0.0.1:8081/healthz"

const usage = `usage:
  recsys eval [--ratings FILE | --train FILE --test FILE] [--json] [--recs-out FILE] [flags]
  recsys serve [--addr HOST:PORT] [--ratings FILE | --size default|large] [--store memory|redis://HOST:PORT] [flags]
  recsys simulate --out FILE [--seed N]
  recsys healthcheck [--url URL]   exit 0 when recsys serve answers /healthz (a container's HEALTHCHECK)
  recsys scenario list | names | run NAME... [--json FILE]
Each command answers -h with its flags. Environment: CASEBOOK_LOG_LEVEL.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit("recsys", err, os.Stdout, os.Stderr))
}

// mainErr reads the environment and runs the command line.
func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	logger, err := cli.NewLogger(os.Getenv(cli.LogLevelEnv), stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	return run(ctx, args, logger, stdout, stderr)
}

func run(ctx context.Context, args []string, logger *slog.Logger, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cli.Usage(usage, "no command")
	}
	switch args[0] {
	case "scenario":
		return scenarios().Command(ctx, args[1:], stdout)
	case "eval":
		cfg, err := parseEval(args[1:])
		if err != nil {
			return err
		}
		return runEval(ctx, cfg, stdout, stderr)
	case "serve":
		cfg, err := parseServe(args[1:])
		if err != nil {
			return err
		}
		return runServe(ctx, cfg, logger, stdout)
	case "healthcheck":
		return cli.HealthCommand(ctx, "recsys", healthURL, args[1:], stdout)
	case "simulate":
		cfg, err := parseSimulate(args[1:])
		if err != nil {
			return err
		}
		return runSimulate(ctx, cfg, stdout)
	}
	if cli.IsHelp(args[0]) {
		return cli.Help(usage)
	}
	return cli.Usage(usage, "unknown command %q", args[0])
}

// scenarios lists what this binary can demonstrate.
func scenarios() scenario.Set { return recscenarios.Set() }
