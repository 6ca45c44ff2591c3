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
//	mlp console [--demo]            the web console over the registry and the event log
//	mlp healthcheck [--url URL]     exit 0 when mlp serve is ready (the image's HEALTHCHECK)
//
// Environment: CASEBOOK_NATS_URL runs the scenarios on that NATS server instead of an
// embedded one; CASEBOOK_LOG_LEVEL=debug|info|warn|error|off sets the level of the
// components' logs on stderr (default info; the scenarios and the demo, which narrate on
// stdout, log only when it is set).
package main

import (
	"context"
	"github.com/casebook-ml/casebook/platform/seal"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(cli.Exit("mlp", err, os.Stdout, os.Stderr))
}

// mainErr reads the environment into a Config and runs the command line.
func mainErr(ctx context.Context, args []string, stdout io.Writer) error {
	level := os.Getenv(cli.LogLevelEnv)
	if level == "" && len(args) > 0 && (args[0] == "demo" || args[0] == "scenario") {
		level = "off" // the scenarios narrate on stdout; their components' logs are asked for
	}
	logger, err := cli.NewLogger(level, os.Stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	keyring, err := seal.KeyringFromEnv()
	if err != nil {
		return err
	}
	cfg := walkthrough.Config{NATSURL: os.Getenv("CASEBOOK_NATS_URL"), Logger: logger, Keyring: keyring}
	return run(ctx, args, cfg, stdout)
}

// healthURL is mlp serve's readiness endpoint on its default address: what `mlp
// healthcheck` (the image's HEALTHCHECK) asks, and what deploy/k8s probes (checked there).
const healthURL = "http://127.0.0.1:8080/v2/health/ready"

const usage = `usage:
  mlp demo [--json FILE]                                run every platform scenario, in order, with narration
  mlp scenario list | names | run NAME... [--json FILE] what can be demonstrated
  mlp registry list|show|promote|rollback|card|audit    the model registry
  mlp train                                             run the fraud training pipeline defined in code
  mlp features list|seed|materialize|read|freshness     the feature store
  mlp monitor MODEL [--nats URL] [--demo | --loop]      drift, data quality, online quality, alerts; --loop retrains
  mlp serve [--demo] [flags]                            serve registry models (Open Inference Protocol v2)
  mlp console [--demo] [flags]                          the web console: registry, cards, serving, monitoring, scenarios, load reports
  mlp healthcheck [--url URL]                           exit 0 when mlp serve answers its readiness endpoint (a container's HEALTHCHECK)
Each command answers -h with its flags. Environment: CASEBOOK_LOG_LEVEL, CASEBOOK_NATS_URL, CASEBOOK_DATA_KEY (id:hex key[,...]: seal
registry artifacts and offline feature files at rest; the first key seals, all open).`

func run(ctx context.Context, args []string, cfg walkthrough.Config, stdout io.Writer) error {
	if len(args) == 0 {
		return cli.Usage(usage, "no command")
	}
	if cli.IsHelp(args[0]) {
		return cli.Help(usage)
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
	case "console":
		return consoleCmd(ctx, args[1:], cfg, stdout)
	case "healthcheck":
		return cli.HealthCommand(ctx, "mlp", healthURL, args[1:], stdout)
	default:
		return cli.Usage(usage, "unknown command %q", args[0])
	}
}
