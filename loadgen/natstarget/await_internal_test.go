package natstarget

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/casebook-ml/casebook/loadgen"
)

// TestAnswerBeforeAck: the waiter is registered before the publish, so an answer that
// arrives while the publish is still waiting for its ack completes the request.
func TestAnswerBeforeAck(t *testing.T) {
	a := &awaiter{prefix: "decision-"}
	a.correlate = a.byMsgID
	answer := &nats.Msg{Subject: "d", Header: nats.Header{jetstream.MsgIDHeader: {"decision-42"}}}
	publish := func(context.Context, *nats.Msg) error {
		a.answer(answer) // the answer overtakes the ack
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := a.do(ctx, loadgen.Request{ID: "42"}, &nats.Msg{}, publish); err != nil || time.Since(start) > 500*time.Millisecond {
		t.Errorf("do() = %v after %v, want nil at once", err, time.Since(start))
	}
	if a.matched.Load() != 1 || a.unmatched.Load() != 0 {
		t.Errorf("matched %d unmatched %d, want 1 and 0", a.matched.Load(), a.unmatched.Load())
	}
	n := 0
	a.pending.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Errorf("%d waiters left, want 0", n)
	}
}

// The message of a fraud-like request (an id and an event time): its header is built per
// request by the generator.
func TestMessageHeader(t *testing.T) {
	at := time.Date(2018, 5, 30, 12, 0, 0, 123456789, time.UTC)
	tg := &Target{cfg: Config{Subject: "s", Mode: Await}}
	m := tg.message(loadgen.Request{ID: "42", Subject: "fraud.tx", Time: at, Body: []byte("x")})
	want := nats.Header{jetstream.MsgIDHeader: {"42"}, "Casebook-Event-Time": {"2018-05-30T12:00:00.123456789Z"}}
	if m.Subject != "fraud.tx" || string(m.Data) != "x" || len(m.Header) != len(want) {
		t.Fatalf("message = %+v, want subject fraud.tx, data x, header %v", m, want)
	}
	for k, v := range want {
		if got := m.Header.Values(k); len(got) != 1 || got[0] != v[0] {
			t.Errorf("header %s = %v, want %v", k, got, v)
		}
	}
}

func BenchmarkMessage(b *testing.B) {
	tg := &Target{cfg: Config{Subject: "s", Mode: Await}}
	req := loadgen.Request{ID: "1234567", Subject: "fraud.tx", Time: time.Now(), Body: []byte("x")}
	b.ReportAllocs()
	for b.Loop() {
		_ = tg.message(req)
	}
}
