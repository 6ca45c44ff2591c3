package live

import (
	"context"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
)

// TestOnlineQualityMatchesPostHoc: the running system's online quality (chargebacks
// republished as outcomes, joined to the prediction log as both arrive) exports on
// /metrics exactly what a post-hoc join computes on the same run: the prediction records
// read back from the log, placed at their transactions' true times and labelled with the
// simulation's ground truth, over the same whole days.
func TestOnlineQualityMatchesPostHoc(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	if err := monitoring.EnsureStreams(ctx, log, time.Hour); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	sys := smallSystem(t, reg, log)
	qc := DefaultQualityConfig(sys.Config.LabelDelay, 20, sys.Thresholds.Review)
	qc.Slack = 0 // chargebacks come exactly 3 days late here: two live days are then due
	q, err := NewQuality(qc, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	stats := &stream.Stats{}
	scorer, err := sys.Scorer(ctx, log, memory.New(sys.Features), stats, nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 4)
	go func() { done <- scorer.Run(rctx, eventlog.DefaultConsumerConfig()) }()
	go func() { done <- q.Outcomes(rctx) }()
	go func() { done <- q.Join(rctx) }()
	if _, err := log.PublishBatch(ctx, sys.Live); err != nil {
		t.Fatal(err)
	}
	labels := len(sys.Live) - sys.LiveTx
	var newest time.Time
	for _, ev := range sys.Live {
		if ev.Subject == events.TxSubject && ev.Time.After(newest) {
			newest = ev.Time
		}
	}
	// Wait until every decision is out, every chargeback is an outcome, and the join has
	// read the prediction log up to the newest transaction and every outcome.
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := log.Stream(ctx, predlog.OutcomeStream)
		if err != nil {
			t.Fatal(err)
		}
		oc, err := log.ConsumerState(ctx, predlog.OutcomeStream, QualityOutDurable)
		if stats.Published.Load() == int64(sys.LiveTx) && int(st.Messages) == labels && err == nil && oc.Caught() && q.Joiner().Clock().Equal(newest) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %d of %d decisions, %d of %d outcomes, join clock %v (want %v), outcome consumer %+v %v",
				stats.Published.Load(), sys.LiveTx, st.Messages, labels, q.Joiner().Clock(), newest, oc, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	qs := q.Update()
	if len(qs) != 1 || qs[0].Version != sys.Version.Number {
		t.Fatalf("Update() = %+v, want the quality of v%d alone", qs, sys.Version.Number)
	}
	got := qs[0]

	// Post hoc: the records from the log, at their transactions' times, labelled by the truth.
	truth := map[string]bool{}
	at := map[string]time.Time{}
	for _, tx := range sys.Txs {
		truth[events.TxID(tx.ID)], at[events.TxID(tx.ID)] = tx.Fraud, tx.Time
	}
	due := newest.Add(-qc.LabelDelay - qc.Slack)
	to := due.Truncate(Day)
	from := to.Add(-time.Duration(qc.Days) * Day)
	byDay := map[time.Time][2][]float64{} // day → (labels, scores)
	var y, p []float64
	seen := map[string]bool{}
	if _, err := log.Replay(ctx, predlog.PredictionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		ps, err := predlog.DecodePredictions(m)
		if err != nil {
			return err
		}
		for _, r := range ps {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			if !r.Time.Equal(at[r.ID]) {
				t.Errorf("prediction %s logged at %v, want its transaction's time %v", r.ID, r.Time, at[r.ID])
			}
			tt := at[r.ID]
			if tt.Before(from) || !tt.Before(to) {
				continue
			}
			lab := 0.0
			if truth[r.ID] {
				lab = 1
			}
			d := byDay[tt.Truncate(Day)]
			d[0], d[1] = append(d[0], lab), append(d[1], r.Score)
			byDay[tt.Truncate(Day)] = d
			y, p = append(y, lab), append(p, r.Score)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var days []time.Time
	for d := range byDay {
		days = append(days, d)
	}
	if len(days) < 2 || len(y) == 0 || slices.Max(y) == 0 {
		t.Fatalf("post-hoc window [%v, %v) holds %d days, %d predictions and no fraud: the test needs two days and both classes", from, to, len(days), len(y))
	}
	sort.Slice(days, func(i, j int) bool { return days[i].Before(days[j]) })
	precision := 0.0
	for _, d := range days {
		// the k highest scores of the day, counted by hand
		idx := make([]int, len(byDay[d][1]))
		for i := range idx {
			idx[i] = i
		}
		sc, lb := byDay[d][1], byDay[d][0]
		sort.SliceStable(idx, func(a, b int) bool { return sc[idx[a]] > sc[idx[b]] })
		k := min(qc.ReviewBudget, len(idx))
		hits := 0.0
		for _, i := range idx[:k] {
			hits += lb[i]
		}
		precision += hits / float64(k)
	}
	precision /= float64(len(days))
	auc := ml.AUC(y, p)
	if got.Labelled != len(y) || got.Due != len(y) || got.LabelCoverage != 1 || !got.From.Equal(from) || !got.To.Equal(to) {
		t.Errorf("stream: %d labelled of %d due (coverage %v) over [%v, %v); post hoc: %d predictions over [%v, %v), all labelled",
			got.Labelled, got.Due, got.LabelCoverage, got.From, got.To, len(y), from, to)
	}
	v := events.TxID(int64(sys.Version.Number))
	for _, c := range []struct {
		metric string
		want   float64
	}{{"auc", auc}, {"precision_at_k", precision}, {"label_coverage", 1}, {"labelled", float64(len(y))}} {
		exported, ok := onlineQuality(t, reg, v, c.metric)
		if !ok || math.Abs(exported-c.want) > 1e-9 {
			t.Errorf("casebook_monitoring_online_quality{version=%s,metric=%s} = %v, post hoc %v", v, c.metric, exported, c.want)
		}
	}
	t.Logf("window [%v, %v): %d transactions, %d frauds, AUC %.3f, precision@%d per day %.3f", from, to, len(y), int(sumOf(y)), auc, qc.ReviewBudget, precision)
	cancel()
	for range 3 {
		if err := <-done; err != nil {
			t.Errorf("part stopped with %v", err)
		}
	}
}

// onlineQuality reads casebook_monitoring_online_quality{model="fraud",version,metric} from reg.
func onlineQuality(t *testing.T, reg *prometheus.Registry, version, metric string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "casebook_monitoring_online_quality" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["model"] == ModelName && l["version"] == version && l["metric"] == metric {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func sumOf(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
