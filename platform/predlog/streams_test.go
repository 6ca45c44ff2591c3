package predlog

import (
	"context"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// TestEnsureStreams: the streams are created once and checked after, a retried publish
// within the duplicates window is stored once, and an outcome event round-trips.
func TestEnsureStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 2 {
		if err := EnsureStreams(ctx, l, time.Hour); err != nil {
			t.Fatalf("EnsureStreams = %v", err)
		}
	}
	for _, sc := range Streams(time.Hour) {
		if sc.Duplicates != DuplicatesWindow {
			t.Errorf("stream %s: Duplicates = %v, want %v", sc.Name, sc.Duplicates, DuplicatesWindow)
		}
	}
	o := Outcome{ID: "tx-1", Model: "fraud", Label: 1, Time: t0, Kind: "chargeback"}
	ev, err := OutcomeEvent(o)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := l.PublishBatch(ctx, []eventlog.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := l.Stream(ctx, OutcomeStream)
	if err != nil || st.Messages != 1 {
		t.Fatalf("outcome published twice: stream holds %d messages (err %v), want 1", st.Messages, err)
	}
	var got []Outcome
	if _, err := l.Replay(ctx, OutcomeStream, eventlog.FromBeginning(), []string{OutcomeSubject("fraud")}, func(_ context.Context, m *eventlog.Message) error {
		if !IsOutcome(m.Subject) || IsPrediction(m.Subject) {
			t.Errorf("subject %s: IsOutcome, IsPrediction = %v, %v; want true, false", m.Subject, IsOutcome(m.Subject), IsPrediction(m.Subject))
		}
		o, err := DecodeOutcome(m)
		got = append(got, o)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != o {
		t.Errorf("read back %+v, want [%+v]", got, o)
	}
	if _, err := OutcomeEvent(Outcome{Model: "fraud", Label: 1}); err == nil {
		t.Errorf("OutcomeEvent without an id: no error, want ErrBadRecord")
	}
}
