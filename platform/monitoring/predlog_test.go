package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/predlog"
)

func testPrediction(i int) predlog.Prediction {
	return predlog.Prediction{ID: fmt.Sprintf("r%d", i), Model: "fraud", Version: 2, Alias: "champion", Time: t0.Add(time.Duration(i) * time.Second),
		Features: map[string]float64{"x": float64(i), "y": 0.5}, Score: float64(i%10) / 10, Path: "primary"}
}

// TestPredictionLogGroupsAndDeduplicates: 600 predictions are stored as 3 messages; the
// same call again stores nothing new, and the metric counts records.
func TestPredictionLogGroupsAndDeduplicates(t *testing.T) {
	ctx, l, pl := openPredictionLog(t)
	preds := make([]predlog.Prediction, 600)
	for i := range preds {
		preds[i] = testPrediction(i)
	}
	for call := 1; call <= 2; call++ {
		if err := pl.Log(ctx, preds...); err != nil {
			t.Fatalf("Log call %d: %v", call, err)
		}
		st, err := l.Stream(ctx, predlog.PredictionStream)
		if err != nil {
			t.Fatal(err)
		}
		if st.Messages != 3 {
			t.Errorf("after call %d the stream holds %d messages, want 3", call, st.Messages)
		}
	}
	if got := testutil.ToFloat64(pl.m.logged.WithLabelValues("fraud", "ok")); got != 1200 {
		t.Errorf("predictions logged{ok} = %v, want 1200 (records, not messages)", got)
	}
	var got []predlog.Prediction
	if _, err := l.Replay(ctx, predlog.PredictionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		ps, err := predlog.DecodePredictions(m)
		got = append(got, ps...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, preds) {
		t.Errorf("read back %d predictions, want the 600 logged, in order", len(got))
	}
}

// TestJoinerIgnoresRepeatedRecord: a producer that regroups after a restart can store a
// record in two messages; the joiner joins it once.
func TestJoinerIgnoresRepeatedRecord(t *testing.T) {
	jc := DefaultJoinConfig()
	jc.Model = "fraud"
	j, err := NewJoiner(jc, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := j.Handler()
	message := func(ids ...int) *eventlog.Message {
		var b predlog.PredictionMessages
		for _, i := range ids {
			p := testPrediction(i)
			data, _ := json.Marshal(p)
			b.Add(predlog.PredictionSubject("fraud"), p.ID, p.Time, data)
		}
		return &eventlog.Message{Event: b.Events()[0]}
	}
	outcome := func(i int) *eventlog.Message {
		data, _ := json.Marshal(predlog.Outcome{ID: fmt.Sprintf("r%d", i), Model: "fraud", Label: float64(i % 2), Time: t0.Add(time.Hour)})
		return &eventlog.Message{Event: eventlog.Event{ID: fmt.Sprint("o", i), Subject: predlog.OutcomeSubject("fraud"), Data: data}}
	}
	for _, m := range []*eventlog.Message{
		message(0, 1), message(1, 2), // r1 twice while waiting
		outcome(0), outcome(1), outcome(2),
		message(2, 3), // r2 again after it was joined
	} {
		if err := h(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	res, pending := j.Counts()
	if res["joined"] != 3 || res["duplicate"] != 0 || pending != 1 {
		t.Errorf("counts %v, pending %d; want 3 joined, no duplicate outcomes, r3 pending", res, pending)
	}
	if q := j.Quality(2); q.Labelled != 3 {
		t.Errorf("Quality(2).Labelled = %d, want 3 (each record joined once)", q.Labelled)
	}
}
