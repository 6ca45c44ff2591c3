// Package walkthrough holds the platform's runnable scenarios: one file per idea of the
// roadmap, each a scenario.Scenario that prints what it does and checks what it claims.
// The docs under docs/walkthroughs tell the reader which one to run and what to look at.
package walkthrough

import (
	"context"
	"fmt"
	"github.com/casebook-ml/casebook/platform/seal"
	"log/slog"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// Config says which engines the scenarios run on. The zero value is the local default.
type Config struct {
	// NATSURL is a NATS server to use instead of the embedded one.
	NATSURL string
	// Logger receives the components' own logs; nil discards them.
	Logger *slog.Logger
	// Keyring seals registry artifacts and offline Parquet files at rest when it holds a
	// key (mlp builds it from CASEBOOK_DATA_KEY); nil keeps them in the clear.
	Keyring *seal.Keyring
}

// Scenarios returns every platform scenario.
func Scenarios(cfg Config) scenario.Set {
	set := scenario.Set{
		duplicatePublish(cfg),
		consumerCrash(cfg),
		poisonMessage(cfg),
		replay(cfg),
		delayedPipeline(cfg),
		pointInTime(cfg),
	}
	set = append(set, lifecycleScenarios(cfg)...)
	set = append(set, monitoringScenarios(cfg)...)
	set = append(set, privacyScenarios(cfg)...)
	set = append(set, governanceScenarios(cfg)...)
	set = append(set, encryption(cfg))
	return append(set, servingScenarios(cfg)...)
}

// openLog opens the event log the scenario runs on and says which one it is.
func openLog(ctx context.Context, cfg Config, r *scenario.Report) (*eventlog.Log, error) {
	lc := eventlog.DefaultConfig()
	lc.Logger = cfg.Logger
	if cfg.NATSURL != "" {
		lc.URL = cfg.NATSURL
	}
	l, err := eventlog.Open(ctx, lc)
	if err != nil {
		return nil, err
	}
	if cfg.NATSURL == "" {
		r.Say("event log: an embedded NATS server with JetStream, inside this process (%s)", l.URL())
	} else {
		r.Say("event log: the NATS server at %s", l.URL())
	}
	return l, nil
}

// freshStream creates a stream for one run, removing any left over from an earlier run on
// the same server so that the numbers are this run's.
func freshStream(ctx context.Context, l *eventlog.Log, cfg eventlog.StreamConfig) error {
	if err := l.DeleteStream(ctx, cfg.Name); err != nil && !isNotFound(err) {
		return err
	}
	if _, err := l.EnsureStream(ctx, cfg); err != nil {
		return fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return nil
}
