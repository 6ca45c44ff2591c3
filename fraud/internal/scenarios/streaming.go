package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
)

const day = 24 * time.Hour

// switchable is an online store an operator (here, the scenario) can take down, as a
// Redis outage would.
type switchable struct {
	features.OnlineStore
	down atomic.Bool
}

var errOutage = &features.UnavailableError{Store: "redis (simulated)", Op: "read/write", Err: errors.New("connection refused")}

func (s *switchable) Write(ctx context.Context, view string, rows []features.Row) (features.WriteStats, error) {
	if s.down.Load() {
		return features.WriteStats{}, errOutage
	}
	return s.OnlineStore.Write(ctx, view, rows)
}

func (s *switchable) Read(ctx context.Context, req features.ReadRequest) (*features.ReadResult, error) {
	if s.down.Load() {
		return nil, errOutage
	}
	return s.OnlineStore.Read(ctx, req)
}

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
	)
	cfg := sim.DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 300, 600, days
	d, err := sim.Generate(ctx, cfg)
	if err != nil {
		return err
	}
	txs := d.Transactions
	r.Step("Simulate %d days and compromise one more terminal from day %d", days, injectFrom)
	count := map[int]int{}
	for _, t := range txs {
		if t.Day >= injectFrom && t.Scenario == 0 {
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
	r.Say("%d transactions; terminal %d (the busiest) is compromised from day %d: its %d transactions from then on are fraud.", len(txs), victim, injectFrom, injected)

	r.Step("Train a logistic regression on days 0-%d, choose thresholds on days %d-%d", trainEnd-1, trainEnd, validEnd-1)
	freg := features.NewRegistry()
	if err := txfeatures.RegisterLabelled(freg, time.Hour, 8*day); err != nil {
		return err
	}
	x, err := txfeatures.Offline(freg, txs)
	if err != nil {
		return err
	}
	train := ml.Dataset{Schema: ml.FloatSchema(txfeatures.Names...)}
	var valRows []int
	for i, t := range txs {
		switch {
		case t.Day < trainEnd:
			train.X = append(train.X, x[i*txfeatures.Width:(i+1)*txfeatures.Width]...)
			train.Y = append(train.Y, b2f(t.Fraud))
		case t.Day < validEnd:
			valRows = append(valRows, i)
		}
	}
	model, err := ml.TrainLogReg(ctx, train, ml.DefaultLogRegConfig())
	if err != nil {
		return err
	}
	val := ml.Dataset{Schema: train.Schema}
	for _, i := range valRows {
		val.X = append(val.X, x[i*txfeatures.Width:(i+1)*txfeatures.Width]...)
	}
	p := make([]float64, len(valRows))
	if err := model.Predict(val.Batch(), p); err != nil {
		return err
	}
	scored := make([]decision.Scored, len(valRows))
	for k, i := range valRows {
		scored[k] = decision.Scored{Day: txs[i].Day, Card: txs[i].Customer, Score: p[k], Fraud: txs[i].Fraud}
	}
	policy := decision.DefaultPolicy()
	policy.ReviewBudget = 30 // 300 cards, about 7% of transactions fraud here: 10% of the cards a day
	th, err := decision.Choose(scored, policy)
	if err != nil {
		return err
	}
	r.Say("Review at score ≥ %.4f (a budget of %d cards a day), decline at ≥ %.4f; validation recall %.2f.", th.Review, policy.ReviewBudget, th.Decline, th.Recall)

	r.Step("Register it as champion and serve it in process")
	dir, err := os.MkdirTemp("", "fraud-stream-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fc := regfs.DefaultConfig()
	fc.Dir = dir
	rstore, err := regfs.Open(fc)
	if err != nil {
		return err
	}
	reg, err := registry.New(rstore, registry.DefaultConfig())
	if err != nil {
		return err
	}
	art, err := model.MarshalBinary()
	if err != nil {
		return err
	}
	v, _, err := reg.Register(ctx, registry.RegisterRequest{Data: art, Version: registry.Version{
		Model: "fraud", Family: string(model.Family()), Schema: model.Schema(), RegisteredBy: "fraud/stream",
		Metrics: map[string]ml.Metrics{"holdout": {ml.MetricAUC: ml.AUC(valLabels(txs, valRows), p)}}, DataFingerprint: train.Fingerprint(),
	}})
	if err != nil {
		return err
	}
	if _, err := reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: v.Number,
		Actor: "fraud/stream", Gates: registry.Gates{EvalSet: "holdout", Metric: ml.MetricAUC}}); err != nil {
		return err
	}
	scfg := serving.DefaultConfig()
	mc := serving.DefaultModelConfig("fraud")
	mc.SLA = time.Second
	scfg.Models = []serving.ModelConfig{mc}
	srv, err := serving.New(ctx, reg, scfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	r.Step("Stream days %d-%d through the event log, chargebacks %v after each fraud", streamFrom, days-1, labelDelay)
	evs, err := events.Replay(txs, labelDelay)
	if err != nil {
		return err
	}
	split := len(evs)
	for i, ev := range evs {
		var t sim.Transaction
		if ev.Subject == stream.TxSubject && json.Unmarshal(ev.Data, &t) == nil && t.Day >= streamFrom {
			split = i
			break
		}
	}
	store := &switchable{OnlineStore: memory.New(freg)}
	stats := &stream.Stats{}
	sc, err := stream.NewScorer(nil, freg, store, stream.Served{Server: srv, Name: "fraud"}, th, decision.DefaultRules(), stats)
	if err != nil {
		return err
	}
	// Warm the online features with the history before the stream, as a deployment would
	// from its backfill.
	for _, ev := range evs[:split] {
		if _, err := sc.Process(ctx, ev.Subject, ev.Data, false); err != nil {
			return err
		}
	}
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
	live := evs[split:]
	if _, err := log.PublishBatch(ctx, live); err != nil {
		return err
	}
	nTx := 0
	for _, ev := range live {
		if ev.Subject == stream.TxSubject {
			nTx++
		}
	}
	sc, err = stream.NewScorerWarm(sc, log)
	if err != nil {
		return err
	}
	// The outage: the online store is down for 50 ms of wall time from the middle on.
	var downSince time.Time
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- sc.Run(rctx, eventlog.DefaultConsumerConfig()) }()
	outageSeen := false
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n := stats.Published.Load()
		if downSince.IsZero() && n >= int64(nTx/2) {
			downSince = time.Now()
			store.down.Store(true)
			outageSeen = true
		}
		if !downSince.IsZero() && time.Since(downSince) > 50*time.Millisecond {
			store.down.Store(false)
		}
		if n >= int64(nTx) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream: %d of %d decisions after 5 minutes", n, nTx)
		}
		select {
		case err := <-done:
			return fmt.Errorf("scorer stopped: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	store.down.Store(false)
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		return err
	}
	r.Say("%d transactions and %d chargebacks decided in %v: %.0f transactions/s (one in flight at a time; see the case study).",
		nTx, len(live)-nTx, elapsed.Round(time.Millisecond), float64(nTx)/elapsed.Seconds())
	r.Measure("stream transactions per second", float64(nTx)/elapsed.Seconds(), "tx/s")

	r.Step("Read the decisions back from the log; join the chargebacks to them in the monitoring's joiner")
	join, err := monitoring.NewJoiner(monitoring.JoinConfig{Model: "fraud", Horizon: labelDelay + day, ImplicitNegative: true,
		Window: nTx, K: 100, ActionThreshold: th.Review}, nil)
	if err != nil {
		return err
	}
	var lastTx time.Time
	for _, ev := range live {
		if ev.Subject != stream.LabelSubject {
			continue
		}
		var t sim.Transaction
		if err := json.Unmarshal(ev.Data, &t); err != nil {
			return err
		}
		join.AddOutcome(monitoring.Outcome{ID: strconv.FormatInt(t.ID, 10), Model: "fraud", Label: 1, Time: ev.Time, Kind: "chargeback"})
	}
	truth := map[int64]sim.Transaction{}
	for _, t := range txs {
		truth[t.ID] = t
	}
	byPath := map[string]map[decision.Action]int{}
	victimDay := map[int][2]int{}
	var flaggedFraud, fraudN, flagged, decisions int
	if _, err := log.Replay(ctx, stream.DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		var dd decision.Decision
		if err := json.Unmarshal(m.Data, &dd); err != nil {
			return err
		}
		decisions++
		t0 := truth[dd.TransactionID].Time
		if t0.After(lastTx) {
			lastTx = t0
		}
		if dd.Path == decision.PathModel {
			join.AddPrediction(monitoring.Prediction{ID: strconv.FormatInt(dd.TransactionID, 10), Model: "fraud", Version: dd.ModelVersion,
				Time: t0, Score: dd.Score, Path: dd.ServingPath})
		}
		if byPath[dd.Path] == nil {
			byPath[dd.Path] = map[decision.Action]int{}
		}
		byPath[dd.Path][dd.Action]++
		t := truth[dd.TransactionID]
		f := dd.Action != decision.Approve
		if f {
			flagged++
		}
		if t.Fraud {
			fraudN++
			if f {
				flaggedFraud++
			}
		}
		if t.Terminal == victim {
			v := victimDay[t.Day]
			v[0]++
			if f {
				v[1]++
			}
			victimDay[t.Day] = v
		}
		return nil
	}); err != nil {
		return err
	}
	for _, path := range []string{decision.PathModel, decision.PathRules} {
		a := byPath[path]
		r.Say("path %-5s approve %5d  review %4d  decline %4d", path, a[decision.Approve], a[decision.Review], a[decision.Decline])
	}
	r.Say("online quality against the ground truth: recall %s of %d frauds, precision %s of %d flagged.",
		fmtPct(flaggedFraud, fraudN), fraudN, fmtPct(flaggedFraud, flagged), flagged)
	r.Measure("online recall", float64(flaggedFraud)/float64(max(1, fraudN)), "")
	r.Measure("online precision", float64(flaggedFraud)/float64(max(1, flagged)), "")
	// Transactions without a chargeback by the horizon were genuine.
	join.Advance(lastTx.Add(labelDelay + 2*day))
	q := join.Quality(v.Number)
	r.Say("monitoring's online quality of v%d (model-path decisions, chargebacks joined by id): %d labelled, AUC %.3f, precision@100 %.2f, at the review threshold precision %.2f recall %.2f, label delay p50 %v.",
		v.Number, q.Labelled, q.AUC, q.PrecisionAtK, q.PrecisionAtAction, q.RecallAtAction, q.LabelDelayP50)
	r.Measure("online AUC (monitoring)", q.AUC, "")
	r.Check("every model-path decision was joined to its outcome", q.Labelled == byPath[decision.PathModel][decision.Approve]+byPath[decision.PathModel][decision.Review]+byPath[decision.PathModel][decision.Decline])
	var ds []int
	for d := range victimDay {
		ds = append(ds, d)
	}
	sort.Ints(ds)
	r.Say("compromised terminal %d, flagged per day (its chargebacks arrive %v later; terminal risk looks 7 days back):", victim, labelDelay)
	early, late := [2]int{}, [2]int{}
	for _, d := range ds {
		v := victimDay[d]
		r.Say("  day %d: %d of %d flagged", d, v[1], v[0])
		switch {
		case d >= injectFrom && d < injectFrom+7:
			early[0], early[1] = early[0]+v[0], early[1]+v[1]
		case d >= injectFrom+10:
			late[0], late[1] = late[0]+v[0], late[1]+v[1]
		}
	}
	r.Check("exactly one decision per transaction", decisions == nTx)
	r.Check("the outage's decisions came from the rules, marked as such", outageSeen && stats.FeatureErrors.Load() > 0 && byPath[decision.PathRules][decision.Approve]+byPath[decision.PathRules][decision.Review]+byPath[decision.PathRules][decision.Decline] == int(stats.Rules.Load()))
	r.Measure("rule decisions during the outage", float64(stats.Rules.Load()), "")
	r.Check("the compromised terminal is flagged more once its chargebacks are in the 7-day-delayed window",
		late[0] > 0 && float64(late[1])/float64(late[0]) > float64(early[1])/float64(max(1, early[0])))
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func valLabels(txs []sim.Transaction, rows []int) []float64 {
	y := make([]float64, len(rows))
	for k, i := range rows {
		y[k] = b2f(txs[i].Fraud)
	}
	return y
}
