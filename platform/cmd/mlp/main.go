// Command mlp is Casebook's operator CLI for the shared platform. Today it runs the
// platform's scenarios and the demo; later issues add the registry, feature store, serving
// and monitoring commands.
//
//	mlp demo                        run every platform scenario, in order, with narration
//	mlp scenario list               what can be demonstrated
//	mlp scenario run NAME [--json F]
//	mlp registry list|show|promote|rollback|card|audit   the model registry
//	mlp train                       run the fraud training pipeline defined in code
//	mlp serve [--demo] [flags]      serve registry models (Open Inference Protocol v2)
//	mlp monitor MODEL [--demo]      drift per feature, data quality, online quality, alerts
//	mlp monitor MODEL --loop        the retraining loop, until interrupted
//
// Environment: CASEBOOK_NATS_URL runs the scenarios on that NATS server instead of an
// embedded one; CASEBOOK_LOG_LEVEL=debug|info|warn|error shows the components' own logs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/scenario"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := walkthrough.Config{NATSURL: os.Getenv("CASEBOOK_NATS_URL")}
	if lvl := os.Getenv("CASEBOOK_LOG_LEVEL"); lvl != "" {
		var level slog.Level
		if err := level.UnmarshalText([]byte(lvl)); err != nil {
			fmt.Fprintf(os.Stderr, "mlp: CASEBOOK_LOG_LEVEL=%q: %v\n", lvl, err)
			os.Exit(2)
		}
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
		slog.SetDefault(cfg.Logger)
	}

	err := run(ctx, os.Args[1:], cfg, os.Stdout)
	switch {
	case err == nil:
	case errors.Is(err, scenario.ErrUsage):
		fmt.Fprintln(os.Stderr, "mlp:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "mlp:", err)
		os.Exit(1)
	}
}

const usage = "mlp demo | mlp scenario list | mlp scenario run NAME [--json FILE] | mlp registry list|show|promote|rollback|card|audit | mlp train | mlp features list|seed|materialize|read|freshness | mlp monitor MODEL [--nats URL] [--demo | --loop] | mlp serve [--demo] [flags]"

func run(ctx context.Context, args []string, cfg walkthrough.Config, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", scenario.ErrUsage, usage)
	}
	set := walkthrough.Scenarios(cfg)
	switch args[0] {
	case "scenario":
		return set.Command(ctx, args[1:], stdout)
	case "demo":
		return demo(ctx, set, args[1:], stdout)
	case "registry":
		return registryCmd(ctx, args[1:], cfg, stdout)
	case "train":
		return trainCmd(ctx, args[1:], cfg, stdout)
	case "features":
		return featuresCommand(ctx, args[1:], cfg, stdout)
	case "serve":
		return serveCmd(ctx, args[1:], cfg, stdout)
	case "monitor":
		return monitorCmd(ctx, args[1:], cfg, stdout)
	default:
		return fmt.Errorf("%w: unknown command %q; %s", scenario.ErrUsage, args[0], usage)
	}
}
