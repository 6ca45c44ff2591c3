// Command fraud is the Casebook case study for streaming fraud detection with event-time features and delayed labels.
//
// The case study itself is not built yet (see the open issues); today the binary offers the
// scenario convention every Casebook binary shares, with no scenarios registered.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/casebook-ml/casebook/platform/scenario"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case err == nil:
	case errors.Is(err, scenario.ErrUsage):
		fmt.Fprintln(os.Stderr, "fraud:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "fraud:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "scenario" {
		return fmt.Errorf("%w: fraud scenario list | fraud scenario run NAME", scenario.ErrUsage)
	}
	return scenarios().Command(ctx, args[1:], stdout)
}

// scenarios lists what this binary can demonstrate. None yet: the case study is future work.
func scenarios() scenario.Set { return nil }
