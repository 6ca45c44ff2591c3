// Command recsys is the Casebook case study for a retrieval + ranking recommender: matrix
// factorization embeddings in an HNSW index gated on recall, features from the feature
// store, a boosted-trees ranker, a diversity re-rank, cold start, and feedback.
//
//	recsys eval [--ratings FILE | --train FILE --test FILE] [--json] [--recs-out FILE] [--embeddings bpr|ials] [--candidates N]
//	recsys serve [--addr HOST:PORT] [--ratings FILE | --size default|large] [--store memory|redis://HOST:PORT] [--registry DIR]
//	recsys simulate [--out FILE] [--seed N]
//	recsys scenario list | run NAME
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

	"github.com/casebook-ml/casebook/platform/scenario"
	recscenarios "github.com/casebook-ml/casebook/recsys/internal/scenarios"
)

const usage = "recsys eval [--ratings FILE | --train FILE --test FILE] [--json] [--recs-out FILE] | serve [--addr A] [--size default|large] | simulate --out FILE | scenario list|run NAME"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, scenario.ErrUsage), errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(os.Stderr, "recsys:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "recsys:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", scenario.ErrUsage, usage)
	}
	switch args[0] {
	case "scenario":
		return scenarios().Command(ctx, args[1:], stdout)
	case "eval":
		cfg, err := parseEval(args[1:], stderr)
		if err != nil {
			return err
		}
		return runEval(ctx, cfg, stdout, stderr)
	case "serve":
		cfg, err := parseServe(args[1:], stderr)
		if err != nil {
			return err
		}
		return runServe(ctx, cfg, stdout, stderr)
	case "simulate":
		cfg, err := parseSimulate(args[1:], stderr)
		if err != nil {
			return err
		}
		return runSimulate(ctx, cfg, stdout)
	}
	return fmt.Errorf("%w: unknown command %q; %s", scenario.ErrUsage, args[0], usage)
}

// scenarios lists what this binary can demonstrate.
func scenarios() scenario.Set { return recscenarios.Set() }
