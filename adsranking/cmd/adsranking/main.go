// Command adsranking is the Casebook case study for a real-time ad auction that answers well inside 50 ms.
//
// adsranking serve runs the bidder (POST /openrtb2/auction) on the local default: an
// embedded event log, a registry on disk, the in-memory profile store. It also offers the
// scenarios (adsranking scenario list | run NAME...): the click model's
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
	if len(args) > 0 {
		switch args[0] {
		case "scenario":
			return scenarios().Command(ctx, args[1:], stdout)
		case "serve":
			c, err := parseServe(args[1:], os.Stderr)
			if err != nil {
				return err
			}
			return runServe(ctx, c, stdout, os.Stderr)
		}
	}
	return fmt.Errorf("%w: adsranking serve [flags] | adsranking scenario list | adsranking scenario run NAME", scenario.ErrUsage)
}

// scenarios lists what this binary can demonstrate.
func scenarios() scenario.Set { return adscenarios.Set() }
