// Command loadgen drives Casebook's applications with synthetic traffic and reports latency
// honestly: open-loop schedules, latency from the intended send time next to the naive
// number, HDR percentiles, SLO thresholds that fail the run.
//
//	loadgen run --target http://127.0.0.1:8080/score --rate 5000 --duration 10s [flags]
//	loadgen serve-trivial [--addr 127.0.0.1:0]
//	loadgen scenario list | names | run NAME [--json FILE]
//
// Exit codes: 0 ok, 1 SLO missed or run error, 2 bad usage.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/internal/scenarios"
	"github.com/casebook-ml/casebook/platform/cli"
)

const usage = `usage:
  loadgen run --target URL --duration D [--rate R] [flags]   send load, print a report (run -h for flags)
  loadgen serve-trivial [--addr 127.0.0.1:0]                   a do-nothing HTTP server, to measure the generator's floor
  loadgen scenario list | names | run NAME... [--json FILE]    demonstrations (coordinated omission, open vs closed loop)`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stdout, os.Stderr))
}

// mainErr reads the environment and runs the command line. The generator's own parts do
// not log (the report and the progress lines are its output); the logger is the default
// for anything that does, at CASEBOOK_LOG_LEVEL as in every Casebook binary.
func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	logger, err := cli.NewLogger(os.Getenv(cli.LogLevelEnv), stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	return execute(ctx, args, stdout, stderr)
}

// execute reads the command line and runs one subcommand.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cli.Usage(usage, "no command")
	}
	switch args[0] {
	case "run":
		cfg, err := parseRun(args[1:])
		if err != nil {
			return err
		}
		return runLoad(ctx, cfg, stdout, stderr)
	case "serve-trivial":
		cfg, err := parseServe(args[1:])
		if err != nil {
			return err
		}
		return serveTrivial(ctx, cfg, stdout)
	case "scenario":
		return scenarios.Set(scenarios.DefaultParams()).Command(ctx, args[1:], stdout)
	case "help", "-h", "-help", "--help":
		return cli.Help(usage)
	default:
		return cli.Usage(usage, "unknown command %q", args[0])
	}
}

// exitCode prints err and maps it to the documented exit codes (help: 0, usage on stdout).
func exitCode(err error, stdout, stderr io.Writer) int {
	return cli.Exit("loadgen", err, stdout, stderr, usageErrors...)
}

// usageErrors mean the command line asked for something that cannot run (exit code 2).
var usageErrors = []error{
	loadgen.ErrInvalidConfig, loadgen.ErrBadSchedule, loadgen.ErrBadWorkload,
	loadgen.ErrBadSLO, loadgen.ErrUnknownTarget, loadgen.ErrHostNotAllowed,
}
