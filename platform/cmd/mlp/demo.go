package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/scenario"
)

const intro = `Casebook demo: a tour of the ML platform
========================================

Casebook is a working ML platform you can read and run. This demo walks through its parts
in the order data flows through them, with every claim checked as it runs (✔ holds,
✘ does not). Everything runs inside this process: an embedded NATS server stands in for
the event log's cluster, an in-memory store for Redis, a temp folder for the registry.
`

// acts introduce each group of scenarios, keyed by the prefix of their names.
var acts = []struct{ prefix, title, text string }{
	{"eventlog/", "The event log", `Every fact (a card transaction, a click) is appended once to a log and never edited;
features, training sets and predictions are all derived from it and can be rebuilt from it.
These scenarios show what makes such a log trustworthy: retries stored once, crashes that
lose nothing, bad events parked with a reason, and history replayed into the same state.`},
	{"features/", "The feature store", `Features are computed by one definition, run two ways: over history for training, and
one event at a time for serving. These scenarios show what goes wrong when the pipeline
lags or a training set peeks into the future, and how the store detects and repairs it.`},
	{"registry/", "The model registry", `Models are trained, evaluated, registered and promoted through gates; every move is
audited in a hash chain, and a corrupt artifact can never replace a working model.`},
	{"pipeline/", "The training pipeline", `Training runs are made of checkpointed steps, so a run killed midway resumes and a rerun
registers nothing new.`},
	{"serving/", "Serving", `Models answer requests over the Open Inference Protocol, in batches, within deadlines,
and fall back to a last known good model or a heuristic when the current one fails.`},
	{"monitoring/", "Monitoring and the feedback loop", `Predictions are logged, outcomes arrive days later and are joined to them, drift and
quality are measured against a reference, and an alert can retrain a model that then has to
earn its promotion online.`},
}

const outro = `
The demo ran every platform scenario. Each has a walkthrough that says what to look at and
why it matters: see docs/walkthroughs/. Run one alone with
  make scenario NAME=eventlog/replay
and list them all with  make scenarios
`

const demoUsage = `mlp demo [--json FILE]
  runs every platform scenario, grouped into acts, with narration; --json also writes the
  results to FILE (- for stdout)`

// demo runs every platform scenario, grouped into acts: the main job of `make demo`.
func demo(ctx context.Context, set scenario.Set, args []string, stdout io.Writer) error {
	if slices.ContainsFunc(args, cli.IsHelp) {
		return cli.Help(demoUsage)
	}
	fmt.Fprint(stdout, intro)
	var names []string
	for i, act := range acts {
		var group []string
		for _, n := range set.Names() {
			if strings.HasPrefix(n, act.prefix) {
				group = append(group, n)
			}
		}
		if len(group) == 0 {
			continue
		}
		noun := "scenarios"
		if len(group) == 1 {
			noun = "scenario"
		}
		fmt.Fprintf(stdout, "\n%d. %s (%d %s)\n   %s\n", i+1, act.title, len(group), noun, strings.ReplaceAll(act.text, "\n", "\n   "))
		names = append(names, group...)
	}
	// Scenarios of areas without an act still run, last.
	for _, n := range set.Names() {
		if !contains(names, n) {
			names = append(names, n)
		}
	}
	fmt.Fprintln(stdout)
	runArgs := append([]string{"run"}, names...)
	runArgs = append(runArgs, args...) // e.g. --json out.json
	if err := set.Command(ctx, runArgs, stdout); err != nil {
		return err
	}
	fmt.Fprint(stdout, outro)
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
