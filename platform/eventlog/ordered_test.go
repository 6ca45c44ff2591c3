package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// orderedStream creates a stream for one test and returns a consumer config on it with
// small batches, so that a few hundred messages make many batches.
func orderedStream(t *testing.T, l *eventlog.Log) (eventlog.ConsumerConfig, string) {
	t.Helper()
	name, subj := names(t)
	if _, err := l.EnsureStream(ctxT(t), eventlog.StreamConfig{Name: name, Subjects: []string{subj + ".>"}}); err != nil {
		t.Fatal(err)
	}
	cfg := eventlog.DefaultConsumerConfig()
	cfg.Stream, cfg.Durable = name, "scorer"
	cfg.BatchSize, cfg.MaxAckPending = 16, 64
	cfg.Backoff = []time.Duration{5 * time.Millisecond, 10 * time.Millisecond}
	return cfg, subj
}

// publishN publishes n events e-00000… on subject and returns their stream sequences.
func publishN(t *testing.T, l *eventlog.Log, subject string, from, n int) []uint64 {
	t.Helper()
	evs := make([]eventlog.Event, n)
	for i := range evs {
		evs[i] = eventlog.Event{ID: fmt.Sprintf("e-%05d", from+i), Subject: subject, Data: []byte(fmt.Sprint(from + i))}
	}
	acks, err := l.PublishBatch(context.Background(), evs)
	if err != nil {
		t.Errorf("PublishBatch = %v", err)
		return nil
	}
	seqs := make([]uint64, len(acks))
	for i, a := range acks {
		seqs[i] = a.Sequence
	}
	return seqs
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for q := from; q <= to; q++ {
		s = append(s, q)
	}
	return s
}

// recorder keeps what an ordered handler was given and what it applied, and checks the
// contract on every batch: each batch starts right after the last applied message.
type recorder struct {
	t       *testing.T
	mu      sync.Mutex
	batches [][]uint64
	applied []uint64
	seen    map[uint64]uint64 // Message.Deliveries by sequence, at the last delivery
}

func newRecorder(t *testing.T) *recorder { return &recorder{t: t, seen: map[uint64]uint64{}} }

// batch records a delivered batch; want is the sequence it must start after (0: any).
func (r *recorder) batch(b []*eventlog.Message, after func(uint64) uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seqs := make([]uint64, len(b))
	for i, m := range b {
		seqs[i] = m.Sequence
		r.seen[m.Sequence] = m.Deliveries
	}
	if len(r.applied) > 0 && after != nil {
		last := r.applied[len(r.applied)-1]
		if want := after(last); seqs[0] != want {
			r.t.Errorf("batch %v starts at %d, want %d (right after the last applied, %d)", seqs, seqs[0], want, last)
		}
	}
	if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		r.t.Errorf("batch %v is not in strictly increasing stream order", seqs)
	}
	r.batches = append(r.batches, seqs)
}

func (r *recorder) apply(ms ...*eventlog.Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range ms {
		r.applied = append(r.applied, m.Sequence)
	}
	return len(r.applied)
}

func (r *recorder) maxBatch() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.batches {
		n = max(n, len(b))
	}
	return n
}

// TestConsumeOrderedKeepsOrder reads a filtered subject, half published before and half
// while reading, and checks that every message is applied once, in stream order, in
// batches larger than one.
func TestConsumeOrderedKeepsOrder(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		cfg, subj := orderedStream(t, l)
		cfg.Subjects = []string{subj + ".a"}
		const n = 3000
		publish := func(from int) (seqs []uint64) {
			for i := from; i < from+n/2; i += 250 {
				seqs = append(seqs, publishN(t, l, subj+".a", i, 125)...)
				publishN(t, l, subj+".b", i+125, 125) // filtered out
			}
			return seqs
		}
		want := publish(0)
		later := make(chan []uint64, 1)
		go func() { later <- publish(n / 2) }()

		rec := newRecorder(t)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := l.ConsumeOrdered(cctx, cfg, func(_ context.Context, b []*eventlog.Message) (int, error) {
			rec.batch(b, nil)
			if rec.apply(b...) == n/2 {
				cancel()
			}
			return len(b), nil
		})
		if err != nil {
			t.Fatalf("ConsumeOrdered = %v", err)
		}
		want = append(want, <-later...)
		if !slices.Equal(rec.applied, want) {
			t.Fatalf("applied %d messages, want the %d of the filtered subject in stream order; first applied %v", len(rec.applied), len(want), rec.applied[:min(10, len(rec.applied))])
		}
		if m := rec.maxBatch(); m < 2 || m > cfg.BatchSize {
			t.Errorf("largest batch = %d, want 2..%d", m, cfg.BatchSize)
		}
		st, err := l.ConsumerState(ctx, cfg.Stream, cfg.Durable)
		if err != nil || st.AckFloor != want[len(want)-1] || st.AckPending != 0 {
			t.Errorf("ConsumerState = %+v, %v; want ack floor %d and nothing pending", st, err, want[len(want)-1])
		}
		t.Logf("%d batches, largest %d", len(rec.batches), rec.maxBatch())
	})
}

// TestConsumeOrderedRedeliversFromFailure fails the handler in the middle of batches: the
// failed message and everything after it come again in order, nothing before it does.
func TestConsumeOrderedRedeliversFromFailure(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		cfg, subj := orderedStream(t, l)
		const n = 200
		publishN(t, l, subj+".x", 0, n)
		failures := map[uint64]int{50: 1, 120: 2} // seq: how many times it fails

		rec := newRecorder(t)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := l.ConsumeOrdered(cctx, cfg, func(_ context.Context, b []*eventlog.Message) (int, error) {
			rec.batch(b, func(last uint64) uint64 { return last + 1 })
			for i, m := range b {
				if failures[m.Sequence] > 0 {
					failures[m.Sequence]--
					rec.apply(b[:i]...)
					return i, fmt.Errorf("feature store timeout at %d", m.Sequence)
				}
			}
			if rec.apply(b...) == n {
				cancel()
			}
			return len(b), nil
		})
		if err != nil {
			t.Fatalf("ConsumeOrdered = %v", err)
		}
		if want := seqRange(1, n); !slices.Equal(rec.applied, want) {
			t.Fatalf("applied = %v…, want 1..%d once each, in order", rec.applied[:min(20, len(rec.applied))], n)
		}
		if got := rec.seen[120]; got != 3 {
			t.Errorf("Deliveries of seq 120 on its third try = %d, want 3", got)
		}
		// The batches after a failure start at the failed message.
		starts := 0
		for _, b := range rec.batches {
			if b[0] == 50 || b[0] == 120 {
				starts++
			}
		}
		if starts < 3 {
			t.Errorf("batches starting at a failed message = %d, want at least 3 (50 once, 120 twice)", starts)
		}
	})
}

// TestConsumeOrderedDeadLetters parks a message that always fails and one that fails
// permanently, with Consume's headers, and reads on in order.
func TestConsumeOrderedDeadLetters(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		cfg, subj := orderedStream(t, l)
		dlqStream, dlqSubj := cfg.Stream+"_DLQ", "dlq."+subj
		if _, err := l.EnsureStream(ctx, eventlog.StreamConfig{Name: dlqStream, Subjects: []string{dlqSubj}}); err != nil {
			t.Fatal(err)
		}
		cfg.DeadLetterSubject, cfg.MaxDeliver = dlqSubj, 3
		ids := []string{"ok-1", "poison", "ok-2", "undecodable", "ok-3"}
		var evs []eventlog.Event
		for _, id := range ids {
			evs = append(evs, eventlog.Event{ID: id, Subject: subj + ".x", Data: []byte(id)})
		}
		if _, err := l.PublishBatch(ctx, evs); err != nil {
			t.Fatal(err)
		}

		tries := map[string]int{}
		var applied []string
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := l.ConsumeOrdered(cctx, cfg, func(_ context.Context, b []*eventlog.Message) (int, error) {
			for i, m := range b {
				tries[m.ID]++
				switch m.ID {
				case "poison":
					return i, errors.New("model rejected features")
				case "undecodable":
					return i, eventlog.Permanent(errors.New("decode: unexpected end of JSON input"))
				}
				applied = append(applied, m.ID)
				if m.ID == "ok-3" {
					cancel()
				}
			}
			return len(b), nil
		})
		if err != nil {
			t.Fatalf("ConsumeOrdered = %v", err)
		}
		if !slices.Equal(applied, []string{"ok-1", "ok-2", "ok-3"}) {
			t.Errorf("applied = %v, want [ok-1 ok-2 ok-3] in order", applied)
		}
		if tries["poison"] != 3 || tries["undecodable"] != 1 || tries["ok-1"] != 1 {
			t.Errorf("tries = %v, want poison 3 (MaxDeliver), undecodable 1, ok-1 1", tries)
		}

		parked := readParked(t, l, dlqStream)
		p := parked["poison"]
		if p == nil {
			t.Fatalf("dead-letter stream = %v, want the poison message", parked)
		}
		wantHeaders := map[string]string{
			eventlog.HeaderDLQReason:     "model rejected features",
			eventlog.HeaderDLQDeliveries: "3",
			eventlog.HeaderDLQSequence:   "2",
			eventlog.HeaderDLQStream:     cfg.Stream,
			eventlog.HeaderDLQSubject:    subj + ".x",
			eventlog.HeaderDLQConsumer:   cfg.Durable,
		}
		for k, v := range wantHeaders {
			if got := p.Header[k]; got != v {
				t.Errorf("dead-letter header %s = %q, want %q", k, got, v)
			}
		}
		if want := fmt.Sprintf("dlq:%s:2", cfg.Stream); p.ID != want || string(p.Data) != "poison" {
			t.Errorf("dead-letter copy id %q data %q, want id %q and the original payload", p.ID, p.Data, want)
		}
		if u := parked["undecodable"]; u == nil || !strings.Contains(u.Header[eventlog.HeaderDLQReason], "decode") || u.Header[eventlog.HeaderDLQDeliveries] != "1" {
			t.Errorf("permanent failure not dead-lettered after one try with its reason: %+v", u)
		}
	})
}

// TestConsumeOrderedRecoversPanic panics once in the handler: the batch comes again from
// its first message and nothing is lost or applied twice.
func TestConsumeOrderedRecoversPanic(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		cfg, subj := orderedStream(t, l)
		const n = 100
		publishN(t, l, subj+".x", 0, n)
		rec := newRecorder(t)
		panicked := false
		var retried *eventlog.Message
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := l.ConsumeOrdered(cctx, cfg, func(_ context.Context, b []*eventlog.Message) (int, error) {
			rec.batch(b, func(last uint64) uint64 { return last + 1 })
			if panicked && retried == nil {
				retried = b[0]
			}
			for _, m := range b {
				if m.Sequence == 40 && !panicked {
					panicked = true
					panic("nil map in feature code")
				}
			}
			if rec.apply(b...) == n {
				cancel()
			}
			return len(b), nil
		})
		if err != nil {
			t.Fatalf("ConsumeOrdered = %v", err)
		}
		if want := seqRange(1, n); !slices.Equal(rec.applied, want) {
			t.Fatalf("applied %d messages, want 1..%d once each, in order", len(rec.applied), n)
		}
		if retried == nil || retried.Sequence > 40 || retried.Deliveries != 2 {
			t.Errorf("batch after the panic starts with %+v, want the panicking batch's first message with Deliveries 2", retried)
		}
	})
}

// TestConsumeOrderedSlowBatch holds one batch past AckWait, so the server redelivers its
// messages behind newer deliveries; the reader must notice and keep stream order.
func TestConsumeOrderedSlowBatch(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		cfg, subj := orderedStream(t, l)
		cfg.AckWait = 100 * time.Millisecond
		const n = 300
		publishN(t, l, subj+".x", 0, n)
		rec := newRecorder(t)
		slow := true
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := l.ConsumeOrdered(cctx, cfg, func(_ context.Context, b []*eventlog.Message) (int, error) {
			rec.batch(b, func(last uint64) uint64 { return last + 1 })
			if slow && b[len(b)-1].Sequence > 50 {
				slow = false
				time.Sleep(3 * cfg.AckWait)
			}
			if rec.apply(b...) == n {
				cancel()
			}
			return len(b), nil
		})
		if err != nil {
			t.Fatalf("ConsumeOrdered = %v", err)
		}
		if want := seqRange(1, n); !slices.Equal(rec.applied, want) {
			t.Fatalf("applied %d messages, want 1..%d once each, in order", len(rec.applied), n)
		}
	})
}

// TestConsumeOrderedRestart stops a first reader while it holds a batch, with deliveries
// in flight that it never acked, and checks that a second reader on the same durable gets
// the unacked messages first, in order, then the rest. Without the rewind, the unacked
// messages would come back only after AckWait (30 s here), behind newer ones.
func TestConsumeOrderedRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "cancel", true: "kill"}[crash], func(t *testing.T) {
			backends(t, func(t *testing.T, url string) {
				ctx, admin := ctxT(t), open(t, url)
				cfg, subj := orderedStream(t, admin)
				const n = 500
				publishN(t, admin, subj+".x", 0, n)

				// First process: applies batches until 100 messages, then applies 3 of the
				// next batch and stops (cancelled, or its connection killed).
				first, rec1 := open(t, url), newRecorder(t)
				cctx, cancel := context.WithCancel(ctx)
				err := first.ConsumeOrdered(cctx, cfg, func(_ context.Context, b []*eventlog.Message) (int, error) {
					rec1.batch(b, func(last uint64) uint64 { return last + 1 })
					if len(rec1.applied) < 100 || len(b) < 4 {
						rec1.apply(b...)
						return len(b), nil
					}
					rec1.apply(b[:3]...)
					if crash {
						first.Kill()
					}
					cancel()
					return 3, context.Canceled
				})
				cancel()
				if err != nil && !errors.Is(err, eventlog.ErrUnreachable) {
					t.Fatalf("first ConsumeOrdered = %v", err)
				}
				last1 := rec1.applied[len(rec1.applied)-1]
				st, err := admin.ConsumerState(ctx, cfg.Stream, cfg.Durable)
				if err != nil {
					t.Fatal(err)
				}
				if crash {
					// The scenario that broke ordering: deliveries left unacked by a dead process.
					if st.AckPending == 0 || st.AckFloor > last1 {
						t.Fatalf("after the crash: %+v; want unacked deliveries and an ack floor at or below %d", st, last1)
					}
				} else if st.AckFloor != last1 || st.AckPending != 0 {
					t.Fatalf("after cancel: %+v; want ack floor %d (the last applied) and nothing pending", st, last1)
				}

				// Second process, same durable.
				second, rec2 := open(t, url), newRecorder(t)
				sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
				defer scancel()
				err = second.ConsumeOrdered(sctx, cfg, func(_ context.Context, b []*eventlog.Message) (int, error) {
					rec2.batch(b, func(last uint64) uint64 { return last + 1 })
					if rec2.apply(b...); rec2.applied[len(rec2.applied)-1] == n {
						scancel()
					}
					return len(b), nil
				})
				if err != nil {
					t.Fatalf("second ConsumeOrdered = %v", err)
				}
				// The second reader starts after the ack floor it finds. After a kill, acks the
				// dead connection had already written may reach the server after the state
				// read above, so that floor lies between st.AckFloor and the last applied.
				from := st.AckFloor + 1
				if crash && len(rec2.applied) > 0 && rec2.applied[0] > from && rec2.applied[0] <= last1+1 {
					from = rec2.applied[0]
				}
				if want := seqRange(from, n); !slices.Equal(rec2.applied, want) {
					t.Fatalf("second reader applied %v…, want %d..%d in order (ack floor + 1 first; floor read %d, last applied %d)", rec2.applied[:min(10, len(rec2.applied))], from, n, st.AckFloor, last1)
				}
				if !slices.Equal(rec1.applied, seqRange(1, last1)) {
					t.Errorf("first reader applied %d messages, not 1..%d in order", len(rec1.applied), last1)
				}
				t.Logf("first applied 1..%d, ack floor %d, %d unacked; second applied %d..%d (%d again)", last1, st.AckFloor, st.AckPending, from, n, last1+1-from)
			})
		})
	}
}

// TestConsumeOrderedNewOnly starts a new durable at the head. The server cannot rewind a
// deliver-new consumer, so ConsumeOrdered pins it to a sequence when it creates it; later
// runs must start after the last applied message, not at the head of their time.
func TestConsumeOrderedNewOnly(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		cfg, subj := orderedStream(t, l)
		cfg.Start = eventlog.NewOnly()
		publishN(t, l, subj+".x", 0, 10) // before the durable: never read
		consume := func(wantN int) []uint64 {
			var got []uint64
			cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			err := l.ConsumeOrdered(cctx, cfg, func(_ context.Context, b []*eventlog.Message) (int, error) {
				for _, m := range b {
					got = append(got, m.Sequence)
				}
				if len(got) == wantN {
					cancel()
				}
				return len(b), nil
			})
			if err != nil {
				t.Fatalf("ConsumeOrdered = %v", err)
			}
			return got
		}
		if got := consume(0); len(got) != 0 {
			t.Fatalf("first run applied %v, want nothing (new events only)", got)
		}
		publishN(t, l, subj+".x", 10, 10)
		if got := consume(10); !slices.Equal(got, seqRange(11, 20)) {
			t.Fatalf("second run applied %v, want 11..20", got)
		}
		publishN(t, l, subj+".x", 20, 10)
		if got := consume(10); !slices.Equal(got, seqRange(21, 30)) {
			t.Fatalf("third run applied %v, want 21..30", got)
		}
	})
}

// TestConsumeOrderedRefusesSharedDurable covers the durables ConsumeOrdered must not
// read: one made by Consume, and one another ordered reader is reading.
func TestConsumeOrderedRefusesSharedDurable(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		cfg, subj := orderedStream(t, l)
		publishN(t, l, subj+".x", 0, 3)
		nop := func(_ context.Context, b []*eventlog.Message) (int, error) { return len(b), nil }

		explicit := cfg
		explicit.Durable = "per-message"
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		if err := l.Consume(cctx, explicit, func(context.Context, *eventlog.Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
		cancel()
		err := l.ConsumeOrdered(ctx, explicit, nop)
		if !errors.Is(err, eventlog.ErrConsumerConflict) || !strings.Contains(err.Error(), "AckExplicit") {
			t.Errorf("ConsumeOrdered(durable made by Consume) = %v, want ErrConsumerConflict naming the ack policy", err)
		}

		// A first ordered reader, running.
		running := make(chan struct{})
		actx, acancel := context.WithCancel(ctx)
		defer acancel()
		done := make(chan error, 1)
		go func() {
			var once sync.Once
			done <- open(t, url).ConsumeOrdered(actx, cfg, func(_ context.Context, b []*eventlog.Message) (int, error) {
				once.Do(func() { close(running) })
				return len(b), nil
			})
		}()
		select {
		case <-running:
		case <-time.After(5 * time.Second):
			t.Fatal("first reader got nothing")
		}
		err = l.ConsumeOrdered(ctx, cfg, nop)
		if !errors.Is(err, eventlog.ErrConsumerInUse) {
			t.Errorf("second ConsumeOrdered on a durable being read = %v, want ErrConsumerInUse", err)
		}
		acancel()
		if err := <-done; err != nil {
			t.Errorf("first reader = %v", err)
		}
		// Once the first reader is gone, the durable is free again.
		cctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if err := l.ConsumeOrdered(cctx, cfg, nop); err != nil {
			t.Errorf("ConsumeOrdered after the first reader stopped = %v", err)
		}
	})
}

func TestConsumeOrderedConfigErrors(t *testing.T) {
	nop := func(_ context.Context, b []*eventlog.Message) (int, error) { return len(b), nil }
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		good, _ := orderedStream(t, l)
		tests := []struct {
			name    string
			mutate  func(*eventlog.ConsumerConfig)
			h       eventlog.BatchHandler
			want    error
			wantMsg string
		}{
			{"nil handler", func(*eventlog.ConsumerConfig) {}, nil, eventlog.ErrInvalidConfig, "handler is nil"},
			{"batch size", func(c *eventlog.ConsumerConfig) { c.BatchSize = 0 }, nop, eventlog.ErrInvalidConfig, "BatchSize"},
			{"pending below batch", func(c *eventlog.ConsumerConfig) { c.MaxAckPending = c.BatchSize - 1 }, nop, eventlog.ErrInvalidConfig, "MaxAckPending"},
			{"missing stream", func(c *eventlog.ConsumerConfig) { c.Stream = "NO_SUCH_STREAM" }, nop, eventlog.ErrStreamNotFound, "NO_SUCH_STREAM"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cfg := good
				tt.mutate(&cfg)
				err := l.ConsumeOrdered(ctx, cfg, tt.h)
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("ConsumeOrdered(%s) = %v, want %v mentioning %q", tt.name, err, tt.want, tt.wantMsg)
				}
			})
		}
	})
}
