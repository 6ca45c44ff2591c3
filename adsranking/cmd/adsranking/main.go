// Command adsranking is the Casebook case study for a real-time ad auction that answers well inside 50 ms.
//
// adsranking serve runs the bidder (POST /openrtb2/auction) on the local default: an
// embedded event log, a registry on disk, the in-memory profile store. It also offers the
// scenarios (adsranking scenario list | run NAME...): the click model's
// quality against the generator, the auction mechanisms compared, budget pacing over a
// day, and bid requests through the HTTP handler. See docs/case-studies/ads.md for what is
// built and what is not yet. Every command answers -h with its flags; CASEBOOK_LOG_LEVEL
// (debug, info, warn, error, off; default info) sets the level of the logs on stderr.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	adscenarios "github.com/casebook-ml/casebook/adsranking/internal/scenarios"
	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// healthURL is adsranking serve's health endpoint on its default address: what
// `adsranking healthcheck` (the image's HEALTHCHECK) asks, and what deploy/k8s probes.
const healthURL = "http://127.0.0.1:8090/healthz"

const usage = `usage:
  adsranking serve [flags]                                  the bidder over HTTP (POST /openrtb2/auction)
  adsranking scenario list | names | run NAME... [--json F] the case study's demonstrations
  adsranking healthcheck [--url URL]                        exit 0 when adsranking serve answers /healthz (a container's HEALTHCHECK)
Each command answers -h with its flags. Environment: CASEBOOK_LOG_LEVEL.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit("adsranking", err, os.Stdout, os.Stderr))
}

// mainErr reads the environment and runs the command line.
func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	logger, err := cli.NewLogger(os.Getenv(cli.LogLevelEnv), stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	return run(ctx, args, logger, stdout)
}

func run(ctx context.Context, args []string, logger *slog.Logger, stdout io.Writer) error {
	if len(args) == 0 {
		return cli.Usage(usage, "no command")
	}
	switch args[0] {
	case "scenario":
		return scenarios().Command(ctx, args[1:], stdout)
	case "healthcheck":
		return cli.HealthCommand(ctx, "adsranking", healthURL, args[1:], stdout)
	case "serve":
		c, err := parseServe(args[1:])
		if err != nil {
			return err
		}
		return runServe(ctx, c, logger, stdout)
	}
	if cli.IsHelp(args[0]) {
		return cli.Help(usage)
	}
	return cli.Usage(usage, "unknown command %q", args[0])
}

// scenarios lists what this binary can demonstrate.
func scenarios() scenario.Set { return adscenarios.Set() }
