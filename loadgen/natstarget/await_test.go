package natstarget_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/natstarget"
	"github.com/casebook-ml/casebook/platform/eventlog"
)

const (
	reqSubject    = "await.tx"
	labelSubject  = "await.label"
	answerSubject = "await.decision"
	answerPrefix  = "decision-"
)

// seqWorkload numbers its requests 1, 2, 3...; every skipEvery-th is a label that gets no
// answer (when skipEvery > 0).
type seqWorkload struct {
	n         int
	skipEvery int
}

func (w *seqWorkload) Next(*rand.Rand) loadgen.Request {
	w.n++
	r := loadgen.Request{ID: strconv.Itoa(w.n), Body: []byte(`{"tx":` + strconv.Itoa(w.n) + `}`), Time: time.Unix(int64(w.n), 0)}
	if w.skipEvery > 0 && w.n%w.skipEvery == 0 {
		r.Subject, r.NoAnswer = labelSubject, true
	}
	return r
}

// responder answers what arrives on reqSubject: after delay, it publishes an answer with
// id answerPrefix+ID on answerSubject, for the requests answer selects. It also checks
// the headers the target must set.
type responder struct {
	nc        *nats.Conn
	seen      atomic.Int64
	labels    atomic.Int64
	badHeader atomic.Int64
}

func startResponder(t *testing.T, s *server.Server, delay time.Duration, answer func(id int) bool) *responder {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r := &responder{nc: nc}
	if _, err := nc.Subscribe(labelSubject, func(*nats.Msg) { r.labels.Add(1) }); err != nil {
		t.Fatal(err)
	}
	sub, err := nc.Subscribe(reqSubject, func(m *nats.Msg) {
		r.seen.Add(1)
		id := m.Header.Get(jetstream.MsgIDHeader)
		if _, err := time.Parse(time.RFC3339Nano, m.Header.Get(eventlog.HeaderEventTime)); err != nil || id == "" {
			r.badHeader.Add(1)
		}
		n, _ := strconv.Atoi(id)
		if !answer(n) {
			return
		}
		send := func() {
			a := nats.NewMsg(answerSubject)
			a.Header.Set(jetstream.MsgIDHeader, answerPrefix+id)
			a.Data = []byte(`{"action":"allow"}`)
			_ = nc.PublishMsg(a)
		}
		if delay > 0 {
			time.AfterFunc(delay, send)
		} else {
			send()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func awaitTarget(t *testing.T, s *server.Server, async bool) *natstarget.Target {
	t.Helper()
	cfg := natstarget.DefaultConfig()
	cfg.URL = s.ClientURL()
	cfg.Mode = natstarget.Await
	cfg.Subject = reqSubject
	cfg.ExtraSubjects = []string{labelSubject}
	cfg.Stream = "AWAIT_TEST"
	cfg.AwaitSubject = answerSubject
	cfg.AwaitPrefix = answerPrefix
	cfg.AsyncPublish = async
	tg, err := natstarget.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New(await) = %v", err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// runEngine runs an open-loop load of wl against tg at a constant rate.
func runEngine(t *testing.T, tg loadgen.Target, wl loadgen.Workload, rate float64, d, timeout time.Duration, workers int) *loadgen.Report {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: rate}}
	cfg.Duration, cfg.Timeout, cfg.Workers = d, timeout, workers
	e, err := loadgen.New(cfg, tg, wl, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestAwaitLatencyIsTheAnswerDelay: latency runs to the answer event, not to the ack, so
// a responder that answers after 30 ms shows up as at least 30 ms; labels complete at
// their ack and are never answered.
func TestAwaitLatencyIsTheAnswerDelay(t *testing.T) {
	for _, async := range []bool{true, false} {
		t.Run("async="+strconv.FormatBool(async), func(t *testing.T) {
			s := startServer(t)
			const delay = 30 * time.Millisecond
			r := startResponder(t, s, delay, func(int) bool { return true })
			tg := awaitTarget(t, s, async)
			rep := runEngine(t, tg, &seqWorkload{skipEvery: 5}, 400, 500*time.Millisecond, 5*time.Second, 64)
			if rep.Sent != 200 || rep.OK != 200 {
				t.Fatalf("sent %d ok %d (errors %v), want 200 and 200", rep.Sent, rep.OK, rep.Errors)
			}
			if got, want := r.seen.Load(), int64(160); got != want {
				t.Errorf("responder saw %d transactions, want %d", got, want)
			}
			if got := r.labels.Load(); got != 40 {
				t.Errorf("responder saw %d labels on %s, want 40", got, labelSubject)
			}
			if n := r.badHeader.Load(); n != 0 {
				t.Errorf("%d requests lacked Nats-Msg-Id or a parsable %s", n, eventlog.HeaderEventTime)
			}
			// p50 is a transaction (4 in 5 requests): at least the delay. The fastest
			// requests are the labels, which complete at the ack, well under the delay.
			if rep.Corrected.P50Ms < delay.Seconds()*1000 || rep.Corrected.P50Ms > 10*delay.Seconds()*1000 {
				t.Errorf("corrected p50 = %vms, want in [%v, %v]", rep.Corrected.P50Ms, delay, 10*delay)
			}
			if q := rep.Distribution[0]; q.CorrectedMs >= delay.Seconds()*1000 {
				t.Errorf("fastest request took %vms, want a label under %v (labels complete at their ack)", q.CorrectedMs, delay)
			}
			st := tg.AwaitStats()
			if st.Matched != 160 || st.Unmatched != 0 || st.Dropped != 0 {
				t.Errorf("AwaitStats() = %+v, want 160 matched and nothing else", st)
			}
			if n := tg.PendingAnswers(); n != 0 {
				t.Errorf("%d requests still pending after the run, want 0", n)
			}
			if !strings.Contains(strings.Join(rep.Notes, "\n"), "answer event on "+answerSubject) || !strings.Contains(rep.Target, "timed to the answer event") {
				t.Errorf("report does not say it measured to the answer event: target %q, notes %q", rep.Target, rep.Notes)
			}
		})
	}
}

// TestAwaitTimeoutsAndStrayAnswers: unanswered requests time out as errors of their own
// kind and leave nothing pending; answers for unknown ids, twice-sent answers and answers
// without an id are counted and change nothing.
func TestAwaitTimeoutsAndStrayAnswers(t *testing.T) {
	s := startServer(t)
	r := startResponder(t, s, 0, func(id int) bool { return id%2 == 1 })
	// Strays: an unknown id, an answer without an id, an answer without the prefix,
	// and every answer a second time.
	if _, err := r.nc.Subscribe(answerSubject, func(m *nats.Msg) {
		if m.Header.Get("Stray") != "" || m.Header.Get(jetstream.MsgIDHeader) == "" {
			return
		}
		dup := nats.NewMsg(answerSubject)
		dup.Header = nats.Header{"Stray": {"dup"}, jetstream.MsgIDHeader: {m.Header.Get(jetstream.MsgIDHeader)}}
		_ = r.nc.PublishMsg(dup)
	}); err != nil {
		t.Fatal(err)
	}
	tg := awaitTarget(t, s, true)
	for _, m := range []*nats.Msg{
		{Subject: answerSubject, Header: nats.Header{"Stray": {"1"}, jetstream.MsgIDHeader: {answerPrefix + "999999"}}},
		{Subject: answerSubject, Header: nats.Header{"Stray": {"1"}}},
		{Subject: answerSubject, Header: nats.Header{"Stray": {"1"}, jetstream.MsgIDHeader: {"other-1"}}},
		{Subject: answerSubject, Data: []byte("no headers at all")},
	} {
		if err := r.nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	r.nc.Flush()
	rep := runEngine(t, tg, &seqWorkload{}, 400, 250*time.Millisecond, 200*time.Millisecond, 64)
	if rep.Sent != 100 || rep.OK != 50 || rep.Failed != 50 {
		t.Fatalf("sent %d ok %d failed %d (errors %v), want 100, 50, 50", rep.Sent, rep.OK, rep.Failed, rep.Errors)
	}
	if got := rep.Errors[natstarget.KindNoAnswer]; got != 50 {
		t.Errorf("errors = %v, want 50 of kind %q", rep.Errors, natstarget.KindNoAnswer)
	}
	if n := tg.PendingAnswers(); n != 0 {
		t.Errorf("%d requests still pending after their timeouts, want 0", n)
	}
	// Give the duplicates of the last answers time to arrive.
	time.Sleep(50 * time.Millisecond)
	st := tg.AwaitStats()
	if st.Matched != 50 || st.Unmatched != 51 || st.Uncorrelated != 3 {
		t.Errorf("AwaitStats() = %+v, want 50 matched, 51 unmatched (50 duplicates, 1 unknown), 3 uncorrelated", st)
	}
}

// TestAwaitRejectsBadRequests: a request awaiting an answer needs an id, unique among
// those in flight.
func TestAwaitRejectsBadRequests(t *testing.T) {
	s := startServer(t)
	startResponder(t, s, 50*time.Millisecond, func(int) bool { return true })
	tg := awaitTarget(t, s, true)
	ctx := context.Background()
	var kerr loadgen.KindError
	if err := tg.Do(ctx, loadgen.Request{Body: []byte("x")}); !errors.Is(err, natstarget.ErrNoID) || !errors.As(err, &kerr) || kerr.Kind() != natstarget.KindNoID {
		t.Errorf("Do(no id) = %v, want %v", err, natstarget.ErrNoID)
	}
	first := make(chan error, 1)
	go func() { first <- tg.Do(ctx, loadgen.Request{ID: "7"}) }()
	time.Sleep(10 * time.Millisecond)
	if err := tg.Do(ctx, loadgen.Request{ID: "7"}); !errors.Is(err, natstarget.ErrDuplicateID) {
		t.Errorf("Do(id in flight) = %v, want %v", err, natstarget.ErrDuplicateID)
	}
	if err := <-first; err != nil {
		t.Errorf("Do(7) = %v, want nil", err)
	}
}

func TestAwaitConfigErrors(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name   string
		mutate func(*natstarget.Config)
		want   string
	}{
		{"no await subject", func(c *natstarget.Config) { c.AwaitSubject = "" }, "--await-subject"},
		{"await subject is a request subject", func(c *natstarget.Config) { c.AwaitSubject = c.Subject }, "also a request subject"},
		{"extra subject with a wildcard", func(c *natstarget.Config) { c.ExtraSubjects = []string{"await.>"} }, "literal subject"},
		{"extra subject has no stream", func(c *natstarget.Config) { c.Stream, c.ExtraSubjects = "", []string{"nobody.captures.this"} }, "no JetStream stream captures"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := natstarget.DefaultConfig()
			cfg.URL, cfg.Mode, cfg.Subject, cfg.Stream = s.ClientURL(), natstarget.Await, reqSubject, "AWAIT_BAD"
			cfg.AwaitSubject = answerSubject
			tc.mutate(&cfg)
			tg, err := natstarget.New(context.Background(), cfg)
			if err == nil {
				tg.Close()
			}
			if !errors.Is(err, loadgen.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%s) = %v, want ErrInvalidConfig mentioning %q", tc.name, err, tc.want)
			}
		})
	}
}

// TestAwaitThroughput is a sanity figure, not a pass/fail gate: set
// LOADGEN_AWAIT_RATE=20000 (and optionally LOADGEN_AWAIT_SYNC=1) to run await mode for
// 3 s against the in-test responder and log the report.
func TestAwaitThroughput(t *testing.T) {
	rate, _ := strconv.ParseFloat(os.Getenv("LOADGEN_AWAIT_RATE"), 64)
	if rate <= 0 {
		t.Skip("set LOADGEN_AWAIT_RATE to measure")
	}
	s := startServer(t)
	startResponder(t, s, 0, func(int) bool { return true })
	tg := awaitTarget(t, s, os.Getenv("LOADGEN_AWAIT_SYNC") == "")
	workers, _ := strconv.Atoi(os.Getenv("LOADGEN_AWAIT_WORKERS"))
	if workers <= 0 {
		workers = 256
	}
	rep := runEngine(t, tg, &seqWorkload{skipEvery: 100}, rate, 3*time.Second, 5*time.Second, workers)
	var b strings.Builder
	_ = rep.WriteText(&b)
	t.Log("\n" + b.String())
}

// TestAwaitAsyncKeepsScheduleOrder: with asynchronous publishing the engine starts every
// request from its pacer (loadgen.Starter), so the stream stores them in schedule order
// however many workers wait for answers; a consumer keeping event time sees no request
// overtake another. (Publishing from the workers, as the synchronous mode does, reorders
// neighbours whenever a worker is descheduled.)
func TestAwaitAsyncKeepsScheduleOrder(t *testing.T) {
	s := startServer(t)
	startResponder(t, s, 2*time.Millisecond, func(int) bool { return true })
	tg := awaitTarget(t, s, true)
	rep := runEngine(t, tg, &seqWorkload{skipEvery: 7}, 5000, time.Second, 5*time.Second, 256)
	if rep.Failed != 0 || rep.Sent < 4000 {
		t.Fatalf("sent %d, failed %d; want ~5000 sent, none failed", rep.Sent, rep.Failed)
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, "AWAIT_TEST", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	prev := 0
	for i := int64(0); i < rep.Sent; i++ {
		m, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			t.Fatalf("read %d of %d: %v", i, rep.Sent, err)
		}
		n, _ := strconv.Atoi(m.Headers().Get(jetstream.MsgIDHeader))
		if n != prev+1 {
			t.Fatalf("stored request %d after %d: the stream is not in schedule order", n, prev)
		}
		prev = n
	}
}
