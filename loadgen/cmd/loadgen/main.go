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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/internal/scenarios"
	"github.com/casebook-ml/casebook/platform/scenario"
)

const usage = `usage:
  loadgen run --target URL --duration D [--rate R] [flags]   send load, print a report (run -h for flags)
  loadgen serve-trivial [--addr 127.0.0.1:0]                   a do-nothing HTTP server, to measure the generator's floor
  loadgen scenario list | names | run NAME... [--json FILE]    demonstrations (coordinated omission, open vs closed loop)`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// execute reads the command line and runs one subcommand.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command\n%s", scenario.ErrUsage, usage)
	}
	switch args[0] {
	case "run":
		cfg, err := parseRun(args[1:], stderr)
		if err != nil {
			return err
		}
		return runLoad(ctx, cfg, stdout, stderr)
	case "serve-trivial":
		cfg, err := parseServe(args[1:], stderr)
		if err != nil {
			return err
		}
		return serveTrivial(ctx, cfg, stdout)
	case "scenario":
		return scenarios.Set(scenarios.DefaultParams()).Command(ctx, args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("%w: unknown command %q\n%s", scenario.ErrUsage, args[0], usage)
	}
}

// exitCode prints err and maps it to the documented exit codes.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case isUsage(err):
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
}

// isUsage reports whether err means the command line asked for something that cannot run.
func isUsage(err error) bool {
	for _, target := range []error{
		scenario.ErrUsage, loadgen.ErrInvalidConfig, loadgen.ErrBadSchedule, loadgen.ErrBadWorkload,
		loadgen.ErrBadSLO, loadgen.ErrUnknownTarget, loadgen.ErrHostNotAllowed,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
