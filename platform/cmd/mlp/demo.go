package main

import (
	"context"
	"fmt"
	"io"

	"github.com/casebook-ml/casebook/platform/scenario"
)

const intro = `Casebook demo: the event log
============================

Every ML system in Casebook starts from an append-only event log: transactions, clicks and
ad requests are appended once and never edited, and everything else (features, training
sets, the prediction log) is derived from it and can be rebuilt from it.

The log here is NATS JetStream, running inside this process, so nothing needs installing.
Four short scenarios show what makes such a log trustworthy:

  1. duplicate-publish  a producer retries, the log stores each event once
  2. consumer-crash     a consumer dies mid-batch, nothing is lost or applied twice
  3. poison-message     a bad event is retried, then parked with its reason
  4. replay             state is rebuilt from history, and backfills start from a time

Each prints what it does, the numbers it measured, and checks (✔/✘) of what it claims.
`

const outro = `
What to read next: docs/walkthroughs/1.2-event-logs.md explains each scenario and why it
matters; run one alone with  make scenario NAME=eventlog/replay
`

// demo runs every platform scenario in order: the main job of `make demo`.
func demo(ctx context.Context, set scenario.Set, args []string, stdout io.Writer) error {
	fmt.Fprint(stdout, intro)
	runArgs := append([]string{"run"}, set.Names()...)
	runArgs = append(runArgs, args...) // e.g. --json out.json
	if err := set.Command(ctx, runArgs, stdout); err != nil {
		return err
	}
	fmt.Fprint(stdout, outro)
	return nil
}
