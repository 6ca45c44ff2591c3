package live

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/testenv"
)

// env holds the Redis container the outage test runs against (one per package).
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Services{Redis: true}, &env))
}

// openLog starts an embedded event log with the case study's streams.
func openLog(t *testing.T) *eventlog.Log {
	t.Helper()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	for _, sc := range events.Streams() {
		if _, err := log.EnsureStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	return log
}

// smallSystem builds the system on 200 cards over 36 days: trained on days 0-15,
// thresholds from days 16-22, live from day 30, chargebacks 3 days late.
func smallSystem(t *testing.T, reg *prometheus.Registry, predictions *eventlog.Log) *System {
	t.Helper()
	ctx := context.Background()
	sc := sim.DefaultConfig()
	sc.Customers, sc.Terminals, sc.Days = 200, 400, 36
	d, err := sim.Generate(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pii.NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{TrainEnd: 16, ValidEnd: 23, StreamFrom: 30, LabelDelay: 3 * Day, Bucket: time.Hour, ReviewBudget: 20, Actor: "test",
		Metrics: reg, Tokenizer: tok}
	if predictions != nil {
		cfg.PredictionLog = predictions
	}
	sys, err := Build(ctx, cfg, d.Transactions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	return sys
}
