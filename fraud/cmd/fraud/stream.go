package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/live"
	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/scenario"
)

const streamUsage = `fraud stream [flags]
  the streaming system as a process: trains on the simulated history, warms the features,
  then decides every transaction published to fraud.tx until interrupted (and, with
  --http ADDR, every transaction POSTed to /v1/transactions/score); restarted on the same
  NATS server, it resumes where it stopped`

// parseStream reads `fraud stream` flags: the streaming system as a process that loadgen
// (or anyone publishing to fraud.tx) drives.
func parseStream(args []string) (live.StreamConfig, error) {
	c := live.DefaultStreamConfig()
	fs := flag.NewFlagSet("fraud stream", flag.ContinueOnError)
	fs.StringVar(&c.NATS, "nats", c.NATS, "NATS server URL, or \"embedded\" for an in-process server")
	fs.IntVar(&c.Port, "port", c.Port, "embedded server: port to listen on (127.0.0.1)")
	fs.StringVar(&c.Store, "store", c.Store, "online feature store: memory or redis://HOST:PORT")
	fs.StringVar(&c.MetricsAddr, "metrics", c.MetricsAddr, "serve Prometheus /metrics on this address (empty: off)")
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "serve POST /v1/transactions/score (a transaction in, its decision out) on this address (empty: off)")
	fs.DurationVar(&c.HTTPTimeout, "http-timeout", c.HTTPTimeout, "longest wait for one decision over HTTP (then 504; asking again returns the decision)")
	fs.DurationVar(&c.Live.RetryHorizon, "retry-horizon", events.RetryHorizon, "how long after a transaction's first copy a producer's retry stored again by the log is recognised from memory (ids of up to twice this); later ones are recognised through the decision log")
	fs.IntVar(&c.BatchSize, "batch", c.BatchSize, "most transactions per scorer batch")
	fs.IntVar(&c.MaxAckPending, "max-ack-pending", c.MaxAckPending, "most transactions delivered and not yet decided")
	fs.BoolVar(&c.PredictionLog, "prediction-log", c.PredictionLog, "log every model score to the PREDICTIONS stream")
	fs.BoolVar(&c.OnlineQuality, "online-quality", c.OnlineQuality, "join chargebacks to the prediction log as they arrive and export online AUC, precision at the review budget and label coverage per model version on /metrics (off when --prediction-log=false)")
	fs.IntVar(&c.QualityDays, "quality-days", c.QualityDays, "online quality window: the last N whole days of transactions old enough to be labelled")
	fs.DurationVar(&c.TxDuplicates, "tx-duplicates", events.TxDuplicatesWindow, "how long the log remembers transaction ids to drop a producer's re-publish (the server holds rate × window ids in memory)")
	fs.DurationVar(&c.DecisionRetention, "decision-retention", 0, "how long FRAUD_DECISIONS keeps decisions (0: forever); a producer's retry is recognised while its first decision is kept, and the server holds about 127 bytes per kept decision")
	fs.IntVar(&c.GCPercent, "gogc", c.GCPercent, "garbage collector target percentage for this process (GOGC; -1 turns it off, 0 keeps the environment's)")
	fs.BoolVar(&c.Noop, "noop", false, "the benchmark floor: approve every transaction without features or model (same log, consumer and decisions; nothing trained)")
	fs.BoolVar(&c.Pprof, "pprof", false, "also serve Go's profiler under /debug/pprof/ on the metrics address")
	fs.DurationVar(&c.Progress, "progress", c.Progress, "progress line interval (0: off)")
	fs.StringVar(&c.CSV, "csv", "", "a transaction CSV in the handbook's layout to train on and replay instead of the simulation (loadgen --workload fraud:csv=FILE sends its days from --start on)")
	fs.IntVar(&c.Sim.Customers, "customers", c.Sim.Customers, "simulated customers (use the same simulation as the load generator's fraud workload)")
	fs.IntVar(&c.Sim.Terminals, "terminals", c.Sim.Terminals, "simulated terminals")
	fs.IntVar(&c.Sim.Days, "days", c.Sim.Days, "simulated days")
	fs.Uint64Var(&c.Sim.Seed, "seed", c.Sim.Seed, "simulation seed")
	fs.IntVar(&c.Live.StreamFrom, "start", c.Live.StreamFrom, "first live day: earlier days train the model and warm the features")
	fs.DurationVar(&c.Live.LabelDelay, "label-delay", c.Live.LabelDelay, "chargeback delay")
	var err error
	if err = cli.Parse(fs, streamUsage, args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", scenario.ErrUsage, fs.Arg(0))
	}
	qualitySet := false
	fs.Visit(func(f *flag.Flag) { qualitySet = qualitySet || f.Name == "online-quality" })
	if !c.PredictionLog && !qualitySet {
		c.OnlineQuality = false // it reads the prediction log
	}
	// Train on the history up to two weeks before the stream and validate on the week
	// after; the last week before the stream is left out because its chargebacks are
	// not all in yet.
	c.Live.ValidEnd = c.Live.StreamFrom - 7
	c.Live.TrainEnd = c.Live.ValidEnd - 7
	if c.Live.Tokenizer, err = tokenizer(os.Getenv, c.NATS == eventlog.EmbeddedURL && c.Store == "memory"); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %w", scenario.ErrUsage, err)
	}
	return c, nil
}

// tokenizer is the PII key of a run: from CASEBOOK_PII_KEY_FILE or CASEBOOK_PII_KEY when
// set; otherwise the published demo key, but only on the local default (embedded NATS,
// memory store), where the data is simulated; a run on real engines without a key is refused.
func tokenizer(getenv func(string) string, local bool) (*pii.Tokenizer, error) {
	tok, err := pii.ForRun(getenv, local, func() (*pii.Tokenizer, error) { return pii.Demo(), nil })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", scenario.ErrUsage, err)
	}
	return tok, nil
}
