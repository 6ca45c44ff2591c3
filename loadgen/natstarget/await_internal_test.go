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
