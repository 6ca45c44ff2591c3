package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"text/tabwriter"
	"time"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/scenario"
)

const monitorUsage = `mlp monitor MODEL [--nats URL] [--reference N] [--live N] [--demo]
  Reads the model's prediction log (stream PREDICTIONS, subject predictions.MODEL) and
  prints drift per feature and for the score: the first N logged predictions are the
  reference period, the last N the live window; for each method the value, the
  thresholds and the verdict. Then data-quality counts, online quality per version from
  outcomes joined by id (stream OUTCOMES), and the alerts firing now (stream ALERTS).
  --nats defaults to $CASEBOOK_NATS_URL. --demo writes a synthetic log with drift into an
  embedded server first, so the command can be tried with nothing running.

mlp monitor MODEL --loop [--nats URL] [--dir DIR | --registry-kv] [--interval 10s]
          [--reference N] [--family gbdt|logreg] [--checkpoints DIR] [--min-train N]
          [--min-labelled N] [--canary-timeout 168h] [--metrics ADDR]
  Runs the retraining loop until interrupted (SIGINT, SIGTERM): reads the prediction
  log serving writes and the outcomes reported on OUTCOMES every --interval; watches
  drift on the champion's first N served predictions as reference, and decay on joined
  outcomes; when a drift rule fires, trains a challenger of --family on at least
  --min-train rows predicted since the drift and joined with their outcomes, moves it to
  the canary alias (serve with --canary canary:PERCENT to split traffic), and promotes
  it to champion only if its online AUC, on --min-labelled joined outcomes a side, beats
  the champion's over the same period; otherwise removes the canary. Each decision is
  printed and written to the registry's audit log. The registry is the filesystem one in
  --dir ($CASEBOOK_REGISTRY_DIR, .casebook/registry), or with --registry-kv the one on
  the --nats server. --metrics ADDR (off by default; 127.0.0.1:9465, say) serves
  Prometheus /metrics with the monitoring set (casebook_monitoring_*: drift, data
  quality, action rate, joined quality and decay, label delay, alert state) that
  deploy/prometheus/alerts.yaml reads; a failing listener stops the loop with its error.`

type monitorOpts struct {
	model      string
	nats       string
	refN, live int
	demo       bool
	loop       loopOpts
}

func monitorCmd(ctx context.Context, args []string, cfg walkthrough.Config, stdout io.Writer) error {
	usageErr := func(msg string) error { return fmt.Errorf("%w: %s\n%s", scenario.ErrUsage, msg, monitorUsage) }
	fs := flag.NewFlagSet("mlp monitor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o monitorOpts
	fs.StringVar(&o.nats, "nats", os.Getenv("CASEBOOK_NATS_URL"), "NATS server URL")
	fs.IntVar(&o.refN, "reference", 5000, "predictions in the reference period (the first logged)")
	fs.IntVar(&o.live, "live", 2000, "predictions in the live window (the last logged)")
	fs.BoolVar(&o.demo, "demo", false, "seed an embedded log with a synthetic drifted run first")
	o.loop.add(fs)
	// Accept MODEL before or after the flags.
	var rest []string
	for len(args) > 0 {
		if err := cli.Parse(fs, monitorUsage, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) != 1 {
		return usageErr("want exactly one MODEL")
	}
	o.model = rest[0]
	if o.refN < 1 || o.live < 1 {
		return usageErr("--reference and --live must be positive")
	}
	if o.loop.on && o.demo {
		return usageErr("--loop watches a live log and a registry; --demo has neither (try mlp scenario run monitoring/retrain-loop)")
	}
	lc := eventlog.DefaultConfig()
	lc.Logger = cfg.Logger
	switch {
	case o.demo:
		// The embedded default; the demo never writes to a real server.
	case o.nats != "":
		lc.URL = o.nats
	default:
		return usageErr("no event log: give --nats URL (or set CASEBOOK_NATS_URL), or --demo")
	}
	l, err := eventlog.Open(ctx, lc)
	if err != nil {
		return err
	}
	defer l.Close()
	if o.demo {
		if err := seedMonitorDemo(ctx, l, o.model, o.refN, o.live); err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
		fmt.Fprintf(stdout, "demo: wrote a synthetic prediction log for %s to an embedded event log (feature x0 drifts in the last %d)\n\n", o.model, o.live)
	}
	if o.loop.on {
		return runLoop(ctx, l, o, cfg, stdout)
	}
	return runMonitor(ctx, l, o, stdout)
}

// runMonitor reads the logs and prints the report.
func runMonitor(ctx context.Context, l *eventlog.Log, o monitorOpts, w io.Writer) error {
	var ref, live []predlog.Prediction
	liveAt, total := 0, 0
	jc := monitoring.DefaultJoinConfig()
	jc.Model = o.model
	join, err := monitoring.NewJoiner(jc, nil)
	if err != nil {
		return err
	}
	jh := join.Handler()
	_, err = l.Replay(ctx, predlog.PredictionStream, eventlog.FromBeginning(), []string{predlog.PredictionSubject(o.model)}, func(_ context.Context, m *eventlog.Message) error {
		ps, err := predlog.DecodePredictions(m)
		if err != nil {
			return nil // counted nowhere better; a bad message does not stop the report
		}
		for _, p := range ps {
			total++
			if len(ref) < o.refN {
				ref = append(ref, p)
			} else if len(live) < o.live {
				live = append(live, p)
			} else {
				live[liveAt] = p
				liveAt = (liveAt + 1) % o.live
			}
			join.AddPrediction(p)
		}
		return nil
	})
	if errors.Is(err, eventlog.ErrStreamNotFound) || (err == nil && total == 0) {
		return fmt.Errorf("no predictions logged for %q in stream %s on %s", o.model, predlog.PredictionStream, l.URL())
	}
	if err != nil {
		return err
	}
	if _, err := l.Replay(ctx, predlog.OutcomeStream, eventlog.FromBeginning(), []string{predlog.OutcomeSubject(o.model)}, jh); err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return err
	}
	fmt.Fprintf(w, "model %s: %d predictions logged; reference = the first %d, live = the last %d\n", o.model, total, len(ref), len(live))
	if len(live) == 0 {
		fmt.Fprintln(w, "not enough predictions for a live window beyond the reference period")
	} else if err := printDrift(w, o.model, ref, live); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nonline quality from joined outcomes")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tJOINED\tPOSITIVES\tAUC\tPRECISION@K\tPOSITIVE RATE\tMEAN SCORE\tLABEL DELAY P50")
	for _, v := range join.Versions() {
		q := join.Quality(v)
		fmt.Fprintf(tw, "v%d\t%d\t%d\t%.4f\t%.3f\t%.4f\t%.4f\t%s\n", v, q.Labelled, q.Positives, q.AUC, q.PrecisionAtK, q.PositiveRate, q.MeanScore, q.LabelDelayP50.Round(time.Minute))
	}
	if len(join.Versions()) == 0 {
		fmt.Fprintln(tw, "(no outcomes joined yet)")
	}
	tw.Flush()

	var transitions []monitoring.Alert
	_, err = l.Replay(ctx, monitoring.AlertStream, eventlog.FromBeginning(), []string{monitoring.AlertSubject(o.model)}, func(_ context.Context, m *eventlog.Message) error {
		if a, err := monitoring.DecodeAlert(m); err == nil {
			transitions = append(transitions, a)
		}
		return nil
	})
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return err
	}
	firing := monitoring.CurrentAlerts(transitions)
	fmt.Fprintf(w, "\nalerts firing now (%d; %d transitions in %s)\n", len(firing), len(transitions), monitoring.AlertStream)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tSIGNAL\tVALUE\tFIRES AT\tCLEARS AT\tSINCE")
	for _, a := range firing {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4g\t%g\t%g\t%s\n", a.Rule, a.Severity, a.Signal, a.Value, a.Fire, a.Clear, a.Since.Format(time.RFC3339))
	}
	return tw.Flush()
}

// printDrift builds a monitor from the reference predictions and runs the live ones
// through it. The schema is the union of feature names seen in the reference, all read as
// numbers (the log does not carry types).
func printDrift(w io.Writer, model string, ref, live []predlog.Prediction) error {
	names := predlog.FeatureNames(ref)
	schema := ml.FloatSchema(names...)
	d := ml.Dataset{Schema: schema}
	scores := make([]float64, len(ref))
	for i, p := range ref {
		d.X = append(d.X, p.Row(schema)...)
		scores[i] = p.Score
	}
	mc := monitoring.DefaultConfig()
	mc.Model, mc.Window = model, monitoring.WindowConfig{Size: len(live)}
	mc.MinSamples = min(mc.MinSamples, len(live))
	mon, err := monitoring.NewMonitor(mc, d, scores, nil)
	if err != nil {
		return err
	}
	for _, p := range live {
		if err := mon.Observe(p.Time, p.Row(schema), p.Score); err != nil {
			return err
		}
	}
	rep := mon.Check(time.Now())
	fmt.Fprintln(w, "\ndrift per feature (reference → live)")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tMETHOD\tVALUE\tTHRESHOLD\tSTATUS")
	for _, r := range rep.Drift {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Feature, r.Method, r.FormatValue(), r.FormatThreshold(), r.Status)
	}
	tw.Flush()
	fmt.Fprintf(w, "action rate (score ≥ %.2g): reference %.4f, live %.4f\n", mc.ActionThreshold, rep.ReferenceActionRate, rep.ActionRate)
	if len(rep.Quality) > 0 {
		fmt.Fprintln(w, "\ndata quality in the live window")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FEATURE\tCHECK\tCOUNT\tRATE")
		for _, q := range rep.Quality {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.4f\n", q.Feature, q.Check, q.Total, q.Rate)
		}
		tw.Flush()
	}
	return nil
}

// seedMonitorDemo logs refN undrifted and live drifted predictions of a 4-feature model
// with outcomes, and the alert transitions a PSI rule produces over them.
func seedMonitorDemo(ctx context.Context, l *eventlog.Log, model string, refN, live int) error {
	if err := monitoring.EnsureStreams(ctx, l, 0); err != nil {
		return err
	}
	pl, err := monitoring.NewPredictionLog(l, nil, nil)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(7, 7))
	names := []string{"x0", "x1", "x2", "x3"}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var preds []predlog.Prediction
	var outs []predlog.Outcome
	for i := range refN + live {
		shift := 0.0
		if i >= refN {
			shift = 1
		}
		f := map[string]float64{}
		z := -2.0
		for j, n := range names {
			v := rng.NormFloat64()
			if j == 0 {
				v += shift
			}
			f[n] = v
			z += []float64{1.2, -0.8, 0.5, 0}[j] * v
		}
		score := 1 / (1 + math.Exp(-z))
		at := t0.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("demo-%06d", i)
		preds = append(preds, predlog.Prediction{ID: id, Model: model, Version: 1, Alias: "champion", Time: at, Features: f, Score: score})
		y := 0.0
		if rng.Float64() < score {
			y = 1
		}
		outs = append(outs, predlog.Outcome{ID: id, Model: model, Label: y, Time: at.Add(6 * time.Hour), Kind: "label"})
	}
	for len(preds) > 0 {
		n := min(len(preds), 1000)
		if err := pl.Log(ctx, preds[:n]...); err != nil {
			return err
		}
		if err := pl.LogOutcomes(ctx, outs[:n]...); err != nil {
			return err
		}
		preds, outs = preds[n:], outs[n:]
	}
	th := monitoring.DefaultThresholds()[monitoring.PSI]
	a, err := monitoring.NewAlerter(monitoring.AlerterConfig{Rules: monitoring.DriftRules(model, append(names, monitoring.ScoreFeature), monitoring.PSI, th, false), Publisher: l})
	if err != nil {
		return err
	}
	for i, v := range []float64{0.02, 0.05, 0.25, 0.6, 0.9} { // x0's PSI as the drifted traffic filled the window
		if _, err := a.Evaluate(ctx, t0.Add(time.Duration(refN+i*live/5)*time.Minute), map[string]float64{"drift:x0:psi": v, "drift:x1:psi": 0.01}); err != nil {
			return err
		}
	}
	return nil
}
