// Command adsranking is the Casebook case study for a real-time ad auction that answers well inside 50 ms.
//
// Today it offers the scenarios (adsranking scenario list | run NAME...): the click model's
// quality against the generator, the auction mechanisms compared, budget pacing over a
// day, and bid requests through the HTTP handler. See docs/case-studies/ads.md for what is
// built and what is not yet.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	adscenarios "github.com/casebook-ml/casebook/adsranking/internal/scenarios"
	"github.com/casebook-ml/casebook/platform/scenario"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case err == nil:
	case errors.Is(err, scenario.ErrUsage):
		fmt.Fprintln(os.Stderr, "adsranking:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "adsranking:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "scenario" {
		return fmt.Errorf("%w: adsranking scenario list | adsranking scenario run NAME", scenario.ErrUsage)
	}
	return scenarios().Command(ctx, args[1:], stdout)
}

// scenarios lists what this binary can demonstrate.
func scenarios() scenario.Set { return adscenarios.Set() }
