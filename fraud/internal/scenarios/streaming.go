package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/live"
	"github.com/casebook-ml/casebook/fraud/internal/report"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
)

const day = 24 * time.Hour

func streaming() scenario.Scenario {
	return scenario.Scenario{
		Name:    "fraud/stream",
		Summary: "Transactions through the event log, online features, the model served in process and thresholds: a terminal compromised mid-stream is caught once its chargebacks arrive, and a feature-store outage falls back to marked rule decisions.",
		Run:     runStreaming,
	}
}

func runStreaming(ctx context.Context, r *scenario.Report) error {
	const (
		trainEnd, validEnd, streamFrom, days = 38, 45, 45, 60
		injectFrom                           = 48
		labelDelay                           = 3 * day
		publishRate                          = 5000 // log events per second, paced
	)
	// The report's privacy budget, read first so a bad value fails before the run.
	eps, err := reportEpsilon(os.Getenv)
	if err != nil {
		return err
	}
	cfg := sim.DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 300, 600, days
	// The handbook's fraud counts per day (2 terminals for 28 days, 3 customers for 14) are
	// for 5,000 customers and 10,000 terminals. On a population 6% of that size they would
	// keep 9% of the terminals compromised at any time and make one transaction in seven a
	// fraud, more than a 30-card budget can review: the budget's threshold would sit above
	// any single terminal's risk. One of each a day keeps fraud nearer the handbook's share.
	cfg.TerminalsPerDay, cfg.CustomersPerDay = 1, 1
	d, err := sim.Generate(ctx, cfg)
	if err != nil {
		return err
	}
	txs := d.Transactions
	r.Step("Simulate %d days and compromise one more terminal from day %d", days, injectFrom)
	// The victim is the busiest terminal the simulation never compromised, so that "before"
	// is a terminal with a clean history.
	compromised := map[int]bool{}
	for _, t := range txs {
		if t.Scenario == 2 {
			compromised[t.Terminal] = true
		}
	}
	count := map[int]int{}
	for _, t := range txs {
		if t.Day >= injectFrom && t.Scenario == 0 && !compromised[t.Terminal] {
			count[t.Terminal]++
		}
	}
	victim, best := -1, 0
	for id, n := range count {
		if n > best || (n == best && id < victim) {
			victim, best = id, n
		}
	}
	injected := 0
	for i := range txs {
		if txs[i].Terminal == victim && txs[i].Day >= injectFrom {
			txs[i].Fraud, txs[i].Scenario = true, 2
			injected++
		}
	}
	r.Say("%d transactions; terminal %d (the busiest never compromised) is compromised from day %d: its %d transactions from then on are fraud.", len(txs), victim, injectFrom, injected)

	log, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		return err
	}
	defer log.Close()
	for _, c := range events.Streams() {
		if _, err := log.EnsureStream(ctx, c); err != nil {
			return err
		}
	}
	if err := monitoring.EnsureStreams(ctx, log, 0); err != nil {
		return err
	}

	r.Step("Train a logistic regression on days 0-%d, choose thresholds on days %d-%d, register it and serve it in process", trainEnd-1, trainEnd, validEnd-1)
	tok, err := pii.NewEphemeral() // one process: a key of its own, nothing outlives the run
	if err != nil {
		return err
	}
	lc := live.Config{TrainEnd: trainEnd, ValidEnd: validEnd, StreamFrom: streamFrom, LabelDelay: labelDelay, Bucket: time.Hour,
		ReviewBudget: 30, // 300 cards, about 7% of transactions fraud here: 10% of the cards a day
		Actor:        "fraud/stream", PredictionLog: log, Tokenizer: tok}
	sys, err := live.Build(ctx, lc, txs)
	if err != nil {
		return err
	}
	defer sys.Close()
	th := sys.Thresholds
	r.Say("Review at score ≥ %.4f (a budget of %d cards a day), decline at ≥ %.4f; validation recall %.2f, AUC %.3f.",
		th.Review, lc.ReviewBudget, th.Decline, th.Recall, sys.ValidAUC)
	r.Say("Champion: fraud v%d. Serving logs every score it gives to the %s stream under the transaction's id.", sys.Version.Number, predlog.PredictionStream)

	r.Step("Stream days %d-%d through the event log at %d events/s, chargebacks %v after each fraud", streamFrom, days-1, publishRate, labelDelay)
	store := &features.Switchable{OnlineStore: memory.New(sys.Features)}
	stats := &stream.Stats{}
	sc, err := sys.Scorer(ctx, log, store, stats, nil)
	if err != nil {
		return err
	}
	r.Say("Online features warmed with the %d history events (days 0-%d), as a deployment would from its backfill.", len(sys.History), streamFrom-1)
	liveEvs, nTx := sys.Live, sys.LiveTx
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The system's own online quality runs beside the scorer, as in `fraud stream`.
	oq, err := live.NewQuality(live.DefaultQualityConfig(labelDelay, lc.ReviewBudget, th.Review), log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	qctx, qcancel := context.WithCancel(ctx)
	defer qcancel()
	qdone := make(chan error, 2)
	go func() { qdone <- oq.Outcomes(qctx) }()
	go func() { qdone <- oq.Join(qctx) }()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- sc.Run(rctx, eventlog.DefaultConsumerConfig()) }()
	pubErr := make(chan error, 1)
	go func() { pubErr <- pace(rctx, log, liveEvs, publishRate) }()
	// The outage: the online store is down for 50 ms of wall time from the middle on.
	var downSince time.Time
	outageSeen := false
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n := stats.Published.Load()
		if downSince.IsZero() && n >= int64(nTx/2) {
			downSince = time.Now()
			store.Down.Store(true)
			outageSeen = true
		}
		if !downSince.IsZero() && time.Since(downSince) > 50*time.Millisecond {
			store.Down.Store(false)
		}
		// Done when every transaction is decided and every chargeback is published and
		// applied (the last chargebacks come after the last transactions: stopping at the
		// decisions alone left 148 of them unpublished, and the system's own online quality
		// below waits for all of them).
		if n >= int64(nTx) && pubErr == nil && stats.Labels.Load() >= int64(len(liveEvs)-nTx) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream: %d of %d decisions after 5 minutes", n, nTx)
		}
		select {
		case err := <-done:
			return fmt.Errorf("scorer stopped: %v", err)
		case err := <-pubErr:
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			pubErr = nil
		case <-time.After(time.Millisecond):
		}
	}
	store.Down.Store(false)
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		return err
	}
	r.Say("%d transactions and %d chargebacks decided in %v (%d batches, %.1f transactions each on average).",
		nTx, len(liveEvs)-nTx, elapsed.Round(time.Millisecond), stats.Batches.Load(), float64(stats.BatchedTx.Load())/float64(max(1, stats.Batches.Load())))

	r.Step("Read the decisions back from the log and time each one from its transaction's arrival")
	arrived := map[string]time.Time{}
	if _, err := log.Replay(ctx, events.TxStream, eventlog.FromBeginning(), []string{events.TxSubject}, func(_ context.Context, m *eventlog.Message) error {
		arrived[m.ID] = m.Stored
		return nil
	}); err != nil {
		return err
	}
	truth := map[int64]sim.Transaction{}
	for _, t := range txs {
		truth[t.ID] = t
	}
	byPath := map[string]map[decision.Action]int{}
	daily := map[int]*report.Day{}
	rep := report.Data{Title: "Fraud detection: the fraud/stream scenario", GeneratedAt: time.Now(), Paths: map[string]int{},
		Thresholds: report.Thresholds{Review: th.Review, Decline: th.Decline}}
	var lat []float64
	var latAt []time.Time
	var flaggedFraud, fraudN, flagged, decisions int
	if _, err := log.Replay(ctx, events.DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		var dd decision.Decision
		if err := json.Unmarshal(m.Data, &dd); err != nil {
			return err
		}
		decisions++
		t := truth[dd.TransactionID]
		if at, ok := arrived[events.TxID(dd.TransactionID)]; ok {
			lat = append(lat, float64(m.Stored.Sub(at).Microseconds())/1000)
			latAt = append(latAt, m.Stored)
		}
		if byPath[dd.Path] == nil {
			byPath[dd.Path] = map[decision.Action]int{}
		}
		byPath[dd.Path][dd.Action]++
		rep.Paths[dd.Path]++
		f := dd.Action != decision.Approve
		row := daily[t.Day]
		if row == nil {
			row = &report.Day{Date: cfg.Start.Add(time.Duration(t.Day) * day), Paths: map[string]int{}}
			daily[t.Day] = row
		}
		row.Transactions++
		row.Amount += t.Amount
		row.Amounts = append(row.Amounts, t.Amount)
		row.Paths[dd.Path]++
		if dd.Path == decision.PathModel {
			if t.Fraud {
				rep.Scores.Fraud = append(rep.Scores.Fraud, dd.Score)
			} else {
				rep.Scores.Legit = append(rep.Scores.Legit, dd.Score)
			}
		}
		if f {
			flagged++
			row.Flagged++
		}
		if t.Fraud {
			fraudN++
			row.Frauds++
			if f {
				flaggedFraud++
				row.TruePositives++
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for _, path := range []string{decision.PathModel, decision.PathRules} {
		a := byPath[path]
		r.Say("path %-5s approve %5d  review %4d  decline %4d", path, a[decision.Approve], a[decision.Review], a[decision.Decline])
	}
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	r.Say("transaction appended → decision appended, at %d events/s: p50 %.2f ms, p99 %.2f ms, max %.2f ms (server timestamps; loadgen measures the same at 20,000/s, see the case study).",
		publishRate, p50, p99, percentile(lat, 1))
	r.Measure("decision latency p99", p99, "ms")
	r.Say("online quality against the ground truth: recall %s of %d frauds, precision %s of %d flagged.",
		fmtPct(flaggedFraud, fraudN), fraudN, fmtPct(flaggedFraud, flagged), flagged)
	r.Measure("online recall", float64(flaggedFraud)/float64(max(1, fraudN)), "")
	r.Measure("online precision", float64(flaggedFraud)/float64(max(1, flagged)), "")

	r.Step("The system's own online quality: chargebacks joined to the prediction log as they arrived")
	if err := caughtUp(ctx, log, len(liveEvs)-nTx); err != nil {
		return err
	}
	var own monitoring.OnlineQuality
	for _, oqv := range oq.Update() {
		if oqv.Version == sys.Version.Number {
			own = oqv
		}
	}
	qcancel()
	for range 2 {
		if err := <-qdone; err != nil {
			return err
		}
	}
	r.Say("v%d over the due days %s to %s (made at least the label delay + 1 day before the newest transaction): %d of %d transactions labelled (coverage %.2f), AUC %.3f, precision at the review budget (the %d highest scores a day) %.2f.",
		sys.Version.Number, own.From.Format(time.DateOnly), own.To.Add(-day).Format(time.DateOnly), own.Labelled, own.Due, own.LabelCoverage, own.AUC, lc.ReviewBudget, own.PrecisionAtK)
	r.Measure("online AUC (the system's own, last due days)", own.AUC, "")
	r.Check("the system's own join labelled every due transaction", own.Due > 0 && own.LabelCoverage == 1)

	r.Step("Monitoring: join the chargebacks to the prediction log by transaction id")
	victimTx := map[string]int{} // the victim's transactions by event id → day
	for _, t := range sys.Txs {
		if t.Terminal == victim && t.Day >= streamFrom {
			victimTx[events.TxID(t.ID)] = t.Day
		}
	}
	q, logged, victimRecs, err := joinFromLog(ctx, log, sys.Version.Number, th.Review, labelDelay, nTx, func(id string) bool { _, ok := victimTx[id]; return ok })
	if err != nil {
		return err
	}
	r.Say("monitoring's online quality of v%d (%d prediction records read back from the log, chargebacks joined by id): %d labelled, AUC %.3f, precision@100 %.2f, at the review threshold precision %.2f recall %.2f, label delay p50 %v.",
		sys.Version.Number, logged, q.Labelled, q.AUC, q.PrecisionAtK, q.PrecisionAtAction, q.RecallAtAction, q.LabelDelayP50)
	r.Measure("online AUC (monitoring)", q.AUC, "")
	modelDecisions := byPath[decision.PathModel][decision.Approve] + byPath[decision.PathModel][decision.Review] + byPath[decision.PathModel][decision.Decline]
	r.Check("the prediction log holds one record per model-path decision, and every one was joined to its outcome", logged == modelDecisions && q.Labelled == modelDecisions)
	// The terminal's story, from the scores the model gave its transactions (prediction
	// records: the model path only), and the same transactions scored again with the
	// terminal features zeroed: what the model makes of them without the terminal's history.
	zeroed, err := withoutTerminal(ctx, sys, victimRecs)
	if err != nil {
		return err
	}
	type tally struct{ n, flagged, flaggedZeroed int }
	perDay := map[int]*tally{}
	for i, rec := range victimRecs {
		d := victimTx[rec.ID]
		if perDay[d] == nil {
			perDay[d] = &tally{}
		}
		perDay[d].n++
		if rec.Score >= th.Review {
			perDay[d].flagged++
		}
		if zeroed[i] >= th.Review {
			perDay[d].flaggedZeroed++
		}
	}
	var ds []int
	for d := range perDay {
		ds = append(ds, d)
	}
	sort.Ints(ds)
	r.Say("compromised terminal %d, flagged per day by the model (its chargebacks arrive %v later; terminal risk looks 7 days back, so they count from day %d):", victim, labelDelay, injectFrom+7)
	var before, after tally
	for _, d := range ds {
		v := perDay[d]
		r.Say("  day %d: %d of %d flagged; with the terminal features zeroed %d", d, v.flagged, v.n, v.flaggedZeroed)
		switch {
		case d >= injectFrom && d < injectFrom+7:
			before.n, before.flagged, before.flaggedZeroed = before.n+v.n, before.flagged+v.flagged, before.flaggedZeroed+v.flaggedZeroed
		case d >= injectFrom+7:
			after.n, after.flagged, after.flaggedZeroed = after.n+v.n, after.flagged+v.flagged, after.flaggedZeroed+v.flaggedZeroed
		}
	}
	share := func(k, n int) float64 { return float64(k) / float64(max(1, n)) }
	r.Say("days %d-%d: %d of %d flagged; days %d-%d: %d of %d flagged, %d with the terminal features zeroed.", injectFrom, injectFrom+6, before.flagged, before.n,
		injectFrom+7, days-1, after.flagged, after.n, after.flaggedZeroed)
	r.Measure("compromised terminal flagged, before its chargebacks count", share(before.flagged, before.n), "")
	r.Measure("compromised terminal flagged, once they count", share(after.flagged, after.n), "")
	r.Measure("compromised terminal flagged once they count, terminal features zeroed", share(after.flaggedZeroed, after.n), "")
	r.Check("exactly one decision per transaction", decisions == nTx)
	r.Check("the outage's decisions came from the rules, marked as such", outageSeen && stats.FeatureErrors.Load() > 0 && byPath[decision.PathRules][decision.Approve]+byPath[decision.PathRules][decision.Review]+byPath[decision.PathRules][decision.Decline] == int(stats.Rules.Load()))
	r.Measure("rule decisions during the outage", float64(stats.Rules.Load()), "")
	r.Check("the compromised terminal is caught once its chargebacks are in the 7-day-delayed window: at least half its transactions flagged, three times the share before",
		after.n > 0 && share(after.flagged, after.n) >= 0.5 && share(after.flagged, after.n) >= 3*share(before.flagged, before.n))
	r.Check("the terminal features catch it: with them zeroed, a third of that share or less is flagged",
		share(after.flaggedZeroed, after.n) <= share(after.flagged, after.n)/3)

	r.Step("Write the HTML report")
	var dayNums []int
	for k := range daily {
		dayNums = append(dayNums, k)
	}
	sort.Ints(dayNums)
	for _, k := range dayNums {
		rep.Daily = append(rep.Daily, *daily[k])
	}
	rep.LatencyMillis = lat
	rep.LatencyOverTime = latencyOverTime(latAt, lat, 100*time.Millisecond)
	ops := []report.KV{
		{Key: "Published at", Value: fmt.Sprintf("%d events/s (paced)", publishRate)},
		{Key: "Decision latency p50 / p99", Value: fmt.Sprintf("%.2f ms / %.2f ms", p50, p99)},
	}
	rep.Summary = append([]report.KV{
		{Key: "Transactions decided", Value: fmt.Sprint(decisions)},
		{Key: "Chargebacks (labels, 3 days late)", Value: fmt.Sprint(len(liveEvs) - nTx)},
		{Key: "Online recall / precision", Value: fmtPct(flaggedFraud, fraudN) + " / " + fmtPct(flaggedFraud, flagged)},
		{Key: "Online AUC (monitoring, from the prediction log)", Value: fmt.Sprintf("%.3f", q.AUC)},
		{Key: "Rule decisions (50 ms store outage + 250 ms breaker)", Value: fmt.Sprint(stats.Rules.Load())},
		{Key: "Compromised terminal", Value: fmt.Sprintf("%d, from day %d (%d transactions)", victim, injectFrom, injected)},
	}, ops...)
	rep.Notes = []string{
		"The stream replays simulated days 45-59 of 300 cards; the model was trained on days 0-37 and its thresholds chosen on days 38-44 for a budget of 30 cards a day.",
		"Chargebacks arrive 3 days after each fraud and only then raise the terminal-risk features, which look 7 days back: a freshly compromised terminal is caught late.",
		"Latency here is from the transaction's append to the event log to its decision's append (both server timestamps), at a paced 5,000 events/s on one machine; the load generator's numbers at 20,000/s are in docs/benchmarks.md.",
	}
	if eps > 0 {
		truthDays := rep.Daily
		if rep, err = privateReport(rep, eps, rep.GeneratedAt, ops); err != nil {
			return err
		}
		txErr, recErr := reportError(truthDays, rep.Daily)
		refused := 0
		for _, qi := range rep.Privacy.Queries {
			if qi.Refused != "" {
				refused++
			}
		}
		r.Say("the report is differentially private (%s=%g; \"off\" for exact): %d per-day queries through one ledger, ε = %.4g spent of %g, %d refused; Laplace scale b = %.3g on a count, %.3g on an amount.",
			ReportDPEnv, eps, len(rep.Privacy.Queries), rep.Privacy.Spent.Epsilon, eps, refused, rep.Privacy.Queries[0].Scale, rep.Privacy.Queries[len(rep.Privacy.Queries)-1].Scale)
		r.Say("its cost, released against true: transactions per day off by %.1f on average, recall per day by %.1f points; scores withheld.", txErr, 100*recErr)
		r.Measure("report per-day transactions mean |error| (DP)", txErr, "")
		r.Measure("report per-day recall mean |error| (DP)", recErr, "")
		r.Check("the report's ledger spent no more than its budget, and its queries' ε add up to the spend",
			rep.Privacy.Spent.Epsilon <= eps*(1+1e-9) && math.Abs(sumEps(rep.Privacy.Queries)-rep.Privacy.Spent.Epsilon) < 1e-9)
	} else {
		r.Say("the report is exact (%s=off) and says so on the page.", ReportDPEnv)
	}
	path, err := writeReport(rep)
	if err != nil {
		return err
	}
	r.Say("report: %s (open it in a browser: privacy, score distributions unless private, precision and recall per day, latency, decisions by path).", path)
	return nil
}

// caughtUp waits until every chargeback is an outcome and the online quality's consumers
// have read both streams to their end (the prediction log is written asynchronously, so
// its length must also have stopped growing). It fails only after two minutes without
// progress, so a busy machine makes it slower, not wrong.
func caughtUp(ctx context.Context, log *eventlog.Log, labels int) error {
	const patience = 2 * time.Minute
	deadline := time.Now().Add(patience)
	last := uint64(0)
	var progress [3]uint64
	for {
		ost, err := log.Stream(ctx, predlog.OutcomeStream)
		if err != nil {
			return err
		}
		pst, err := log.Stream(ctx, predlog.PredictionStream)
		if err != nil {
			return err
		}
		oc, oerr := log.ConsumerState(ctx, predlog.OutcomeStream, live.QualityOutDurable)
		pc, perr := log.ConsumerState(ctx, predlog.PredictionStream, live.QualityPredDurable)
		if int(ost.Messages) == labels && oerr == nil && perr == nil && oc.Caught() && pc.Caught() && pst.LastSeq == last {
			return nil
		}
		last = pst.LastSeq
		if now := [3]uint64{ost.Messages, oc.AckFloor, pc.AckFloor}; now != progress {
			progress, deadline = now, time.Now().Add(patience)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("online quality: %d of %d chargebacks as outcomes, consumers %+v %v, %+v %v, no progress for %v", ost.Messages, labels, oc, oerr, pc, perr, patience)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pace publishes evs at rate per second in small chunks, as they would arrive.
func pace(ctx context.Context, log *eventlog.Log, evs []eventlog.Event, rate int) error {
	const tick = 10 * time.Millisecond
	chunk := max(1, rate*int(tick)/int(time.Second))
	next := time.Now()
	for i := 0; i < len(evs); i += chunk {
		if _, err := log.PublishBatch(ctx, evs[i:min(i+chunk, len(evs))]); err != nil {
			return err
		}
		next = next.Add(tick)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
	}
	return nil
}

// joinFromLog is the monitoring's side: it reads the prediction records and the chargebacks
// back from the log and joins them by transaction id in event time.
// It also returns the records keep selects.
func joinFromLog(ctx context.Context, log *eventlog.Log, version int, threshold float64, labelDelay time.Duration, window int, keep func(id string) bool) (monitoring.OnlineQuality, int, []predlog.Prediction, error) {
	join, err := monitoring.NewJoiner(monitoring.JoinConfig{Model: "fraud", Horizon: labelDelay + day, ImplicitNegative: true,
		Window: window, K: 100, ActionThreshold: threshold}, nil)
	if err != nil {
		return monitoring.OnlineQuality{}, 0, nil, err
	}
	// Prediction records carry serving's wall-clock time; the join runs in event time, so
	// each record is placed at its transaction's time.
	txTime := map[string]time.Time{}
	var lastTx time.Time
	if _, err := log.Replay(ctx, events.TxStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		var t sim.Transaction
		if err := json.Unmarshal(m.Data, &t); err != nil {
			return err
		}
		switch m.Subject {
		case events.TxSubject:
			txTime[events.TxID(t.ID)] = t.Time
			if t.Time.After(lastTx) {
				lastTx = t.Time
			}
		case events.LabelSubject:
			join.AddOutcome(predlog.Outcome{ID: events.TxID(t.ID), Model: "fraud", Label: 1, Time: m.Time, Kind: "chargeback"})
		}
		return nil
	}); err != nil {
		return monitoring.OnlineQuality{}, 0, nil, err
	}
	// Records are logged asynchronously, many to a message: wait until the message count stops growing.
	var logged int
	for prev, tries := -1, 0; logged != prev && tries < 50; tries++ {
		prev = logged
		if tries > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		st, err := log.Stream(ctx, predlog.PredictionStream)
		if err != nil {
			return monitoring.OnlineQuality{}, 0, nil, err
		}
		logged = int(st.Messages)
	}
	logged = 0
	var kept []predlog.Prediction
	if _, err := log.Replay(ctx, predlog.PredictionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		ps, err := predlog.DecodePredictions(m)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if t, ok := txTime[p.ID]; ok {
				if keep(p.ID) {
					kept = append(kept, p)
				}
				p.Time = t
				join.AddPrediction(p)
				logged++
			}
		}
		return nil
	}); err != nil {
		return monitoring.OnlineQuality{}, 0, nil, err
	}
	// Transactions without a chargeback by the horizon were genuine.
	join.Advance(lastTx.Add(labelDelay + 2*day))
	return join.Quality(version), logged, kept, nil
}

// withoutTerminal scores the records again with the champion model, their terminal
// features set to zero.
func withoutTerminal(ctx context.Context, sys *live.System, recs []predlog.Prediction) ([]float64, error) {
	model, _, err := sys.Registry.Load(ctx, "fraud", registry.Champion)
	if err != nil {
		return nil, err
	}
	schema := model.Schema()
	b := ml.Batch{Schema: schema}
	for _, p := range recs {
		row := p.Row(schema)
		for i, f := range schema.Features {
			if strings.HasPrefix(f.Name, "TERMINAL_ID_") {
				row[i] = 0
			}
		}
		b.X = append(b.X, row...)
	}
	out := make([]float64, len(recs))
	if err := model.Predict(b, out); err != nil {
		return nil, fmt.Errorf("score without the terminal features: %w", err)
	}
	return out, nil
}

func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s)-1)+0.5))]
}

// latencyOverTime groups samples by wall-clock interval and returns p50 and p99 of each.
func latencyOverTime(at []time.Time, ms []float64, every time.Duration) []report.LatencyPoint {
	groups := map[time.Time][]float64{}
	for i, t := range at {
		k := t.Truncate(every)
		groups[k] = append(groups[k], ms[i])
	}
	var out []report.LatencyPoint
	for k, v := range groups {
		out = append(out, report.LatencyPoint{At: k, P50: percentile(v, 0.5), P99: percentile(v, 0.99)})
	}
	slices.SortFunc(out, func(a, b report.LatencyPoint) int { return a.At.Compare(b.At) })
	return out
}

func writeReport(d report.Data) (string, error) {
	return scenario.WriteReport("fraud-report.html", func(w io.Writer) error { return report.Write(w, d) })
}
