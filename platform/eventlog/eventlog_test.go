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

func TestStreamConfigValidate(t *testing.T) {
	ok := eventlog.StreamConfig{Name: "TX", Subjects: []string{"tx.>"}}
	tests := []struct {
		name    string
		mutate  func(*eventlog.StreamConfig)
		wantErr string // substring; empty means valid
	}{
		{"valid", func(*eventlog.StreamConfig) {}, ""},
		{"empty name", func(c *eventlog.StreamConfig) { c.Name = "" }, "stream name is empty"},
		{"dot in name", func(c *eventlog.StreamConfig) { c.Name = "a.b" }, "may not contain"},
		{"no subjects", func(c *eventlog.StreamConfig) { c.Subjects = nil }, "has no subjects"},
		{"empty token", func(c *eventlog.StreamConfig) { c.Subjects = []string{"tx..a"} }, "empty token"},
		{"gt not last", func(c *eventlog.StreamConfig) { c.Subjects = []string{"tx.>.a"} }, "must be the last token"},
		{"partial wildcard", func(c *eventlog.StreamConfig) { c.Subjects = []string{"tx.a*"} }, "whole tokens"},
		{"negative age", func(c *eventlog.StreamConfig) { c.MaxAge = -time.Second }, "MaxAge must not be negative"},
		{"dup window past age", func(c *eventlog.StreamConfig) { c.MaxAge = time.Minute; c.Duplicates = time.Hour }, "longer than MaxAge"},
		{"default dup window past age", func(c *eventlog.StreamConfig) { c.MaxAge = time.Minute }, "longer than MaxAge"},
		{"replicas", func(c *eventlog.StreamConfig) { c.Replicas = 7 }, "Replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, eventlog.ErrInvalidConfig) {
				t.Fatalf("Validate(%+v) = %v, want ErrInvalidConfig containing %q", c, err, tt.wantErr)
			}
		})
	}
}

func TestConsumerConfigValidate(t *testing.T) {
	base := eventlog.DefaultConsumerConfig()
	base.Stream, base.Durable = "TX", "scorer"
	tests := []struct {
		name    string
		mutate  func(*eventlog.ConsumerConfig)
		wantErr string
	}{
		{"valid", func(*eventlog.ConsumerConfig) {}, ""},
		{"no stream", func(c *eventlog.ConsumerConfig) { c.Stream = "" }, "no stream"},
		{"no durable", func(c *eventlog.ConsumerConfig) { c.Durable = "" }, "no durable"},
		{"max deliver", func(c *eventlog.ConsumerConfig) { c.MaxDeliver = 0 }, "MaxDeliver"},
		{"negative backoff", func(c *eventlog.ConsumerConfig) { c.Backoff = []time.Duration{-1} }, "negative"},
		{"ack wait", func(c *eventlog.ConsumerConfig) { c.AckWait = time.Millisecond }, "AckWait"},
		{"wildcard dlq", func(c *eventlog.ConsumerConfig) { c.DeadLetterSubject = "dlq.*" }, "wildcards"},
		{"pending below batch", func(c *eventlog.ConsumerConfig) { c.MaxAckPending = 1 }, "MaxAckPending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, eventlog.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEnsureStream(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		name, subj := names(t)
		cfg := eventlog.StreamConfig{Name: name, Subjects: []string{subj + ".>"}, MaxAge: time.Hour, Storage: eventlog.MemoryStorage}

		info, err := l.EnsureStream(ctx, cfg)
		if err != nil || !info.Created {
			t.Fatalf("EnsureStream(new) = %+v, %v; want created", info, err)
		}
		info, err = l.EnsureStream(ctx, cfg)
		if err != nil || info.Created {
			t.Fatalf("EnsureStream(same) = %+v, %v; want no-op", info, err)
		}

		changed := cfg
		changed.MaxAge = 2 * time.Hour
		_, err = l.EnsureStream(ctx, changed)
		var conflict *eventlog.ConflictError
		if !errors.As(err, &conflict) || !errors.Is(err, eventlog.ErrStreamConfigConflict) {
			t.Fatalf("EnsureStream(changed) = %v, want *ConflictError", err)
		}
		if len(conflict.Differences) != 1 || !strings.Contains(conflict.Differences[0], "max age") {
			t.Fatalf("conflict differences = %q, want one about max age", conflict.Differences)
		}

		if _, err := l.UpdateStream(ctx, changed); err != nil {
			t.Fatalf("UpdateStream(changed) = %v", err)
		}
		if _, err := l.EnsureStream(ctx, changed); err != nil {
			t.Fatalf("EnsureStream after update = %v, want no-op", err)
		}
		// The server refuses some changes; the reason must come back, not a silent no-op.
		toFile := changed
		toFile.Storage = eventlog.FileStorage
		if _, err := l.UpdateStream(ctx, toFile); err == nil {
			t.Fatalf("UpdateStream(storage change) = nil, want the server's refusal")
		}
	})
}

func TestPublishDeduplicates(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		name, subj := names(t)
		if _, err := l.EnsureStream(ctx, eventlog.StreamConfig{Name: name, Subjects: []string{subj + ".>"}}); err != nil {
			t.Fatal(err)
		}
		ev := eventlog.Event{ID: "tx-1", Subject: subj + ".created", Data: []byte(`{"amount":12.5}`)}
		first, err := l.Publish(ctx, ev)
		if err != nil || first.Duplicate {
			t.Fatalf("Publish(first) = %+v, %v", first, err)
		}
		second, err := l.Publish(ctx, ev)
		if err != nil || !second.Duplicate || second.Sequence != first.Sequence {
			t.Fatalf("Publish(retry) = %+v, %v; want duplicate of seq %d", second, err, first.Sequence)
		}

		// A batch carrying each of 50 ids twice (a producer retrying the whole batch) stores 50.
		var batch []eventlog.Event
		for round := 0; round < 2; round++ {
			for i := 0; i < 50; i++ {
				batch = append(batch, eventlog.Event{ID: fmt.Sprintf("b-%d", i), Subject: subj + ".created", Data: []byte("x")})
			}
		}
		acks, err := l.PublishBatch(ctx, batch)
		if err != nil {
			t.Fatalf("PublishBatch = %v", err)
		}
		dups := 0
		for _, a := range acks {
			if a.Duplicate {
				dups++
			}
		}
		if dups != 50 {
			t.Errorf("PublishBatch duplicates = %d, want 50", dups)
		}
		info, err := l.Stream(ctx, name)
		if err != nil || info.Messages != 51 {
			t.Fatalf("Stream(%s) = %+v, %v; want 51 messages", name, info, err)
		}
	})
}

// TestConsumerCrashRedelivers kills a consumer's connection in the middle of a batch, before
// it acks, and shows that a new consumer on the same durable gets the unacked events again,
// and that an idempotent handler applies every event exactly once.
func TestConsumerCrashRedelivers(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		admin := open(t, url)
		name, subj := names(t)
		if _, err := admin.EnsureStream(ctx, eventlog.StreamConfig{Name: name, Subjects: []string{subj + ".>"}}); err != nil {
			t.Fatal(err)
		}
		const n = 40
		var evs []eventlog.Event
		for i := 0; i < n; i++ {
			evs = append(evs, eventlog.Event{ID: fmt.Sprintf("e-%02d", i), Subject: subj + ".x", Data: []byte{byte(i)}})
		}
		if _, err := admin.PublishBatch(ctx, evs); err != nil {
			t.Fatal(err)
		}

		// The sink outlives the consumer process, as a database would.
		var mu sync.Mutex
		applied := map[string]int{}
		deliveries := 0
		dedup := eventlog.NewDedup(1024)
		apply := func(m *eventlog.Message) error {
			_, err := dedup.Apply(m.ID, func() error {
				mu.Lock()
				applied[m.ID]++
				mu.Unlock()
				return nil
			})
			return err
		}

		cfg := eventlog.DefaultConsumerConfig()
		cfg.Stream, cfg.Durable, cfg.AckWait, cfg.BatchSize, cfg.MaxAckPending = name, "scorer", 300*time.Millisecond, 16, 64

		// First process: applies 25 events, then dies before acking the 26th (and with
		// some acks of the earlier ones possibly still in its buffer).
		crashing := open(t, url)
		cctx, cancel := context.WithCancel(ctx)
		seen := 0
		err := crashing.Consume(cctx, cfg, func(_ context.Context, m *eventlog.Message) error {
			mu.Lock()
			deliveries++
			mu.Unlock()
			if err := apply(m); err != nil {
				return err
			}
			seen++
			if seen == 26 {
				crashing.Kill()
				cancel()
			}
			return nil
		})
		cancel()
		if err != nil && !errors.Is(err, eventlog.ErrUnreachable) {
			t.Fatalf("crashing Consume = %v", err)
		}

		// Second process, same durable: consume until every event is applied.
		survivor := open(t, url)
		sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
		defer scancel()
		redelivered := 0
		go func() {
			// Done when the server says every event is acked, not when the sink looks full:
			// the crashed consumer's unacked events must come back first.
			for sctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
				if st, err := admin.ConsumerState(ctx, name, cfg.Durable); err == nil && st.Caught() {
					scancel()
				}
			}
		}()
		err = survivor.Consume(sctx, cfg, func(_ context.Context, m *eventlog.Message) error {
			mu.Lock()
			deliveries++
			if m.Deliveries > 1 {
				redelivered++
			}
			mu.Unlock()
			return apply(m)
		})
		if err != nil {
			t.Fatalf("survivor Consume = %v", err)
		}
		if errors.Is(sctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("survivor timed out with %d of %d events applied", len(applied), n)
		}
		if redelivered == 0 {
			t.Errorf("redelivered = 0, want the unacked events of the crashed consumer delivered again")
		}
		for id, c := range applied {
			if c != 1 {
				t.Errorf("event %s applied %d times, want 1", id, c)
			}
		}
		if len(applied) != n {
			t.Errorf("applied %d distinct events, want %d", len(applied), n)
		}
		t.Logf("deliveries=%d redelivered=%d applied=%d", deliveries, redelivered, len(applied))
	})
}

// TestPoisonMessageDeadLettered shows a message that always fails landing on the
// dead-letter subject after MaxDeliver tries, with the reason, while the rest flow on.
func TestPoisonMessageDeadLettered(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		name, subj := names(t)
		dlqStream, dlqSubj := name+"_DLQ", "dlq."+subj
		for _, sc := range []eventlog.StreamConfig{
			{Name: name, Subjects: []string{subj + ".>"}},
			{Name: dlqStream, Subjects: []string{dlqSubj}},
		} {
			if _, err := l.EnsureStream(ctx, sc); err != nil {
				t.Fatal(err)
			}
		}
		evs := []eventlog.Event{
			{ID: "ok-1", Subject: subj + ".x", Data: []byte(`1`)},
			{ID: "poison", Subject: subj + ".x", Data: []byte(`not json`)},
			{ID: "undecodable", Subject: subj + ".x", Data: []byte(`{`)},
			{ID: "ok-2", Subject: subj + ".x", Data: []byte(`2`)},
		}
		if _, err := l.PublishBatch(ctx, evs); err != nil {
			t.Fatal(err)
		}
		cfg := eventlog.DefaultConsumerConfig()
		cfg.Stream, cfg.Durable, cfg.DeadLetterSubject = name, "scorer", dlqSubj
		cfg.MaxDeliver, cfg.Backoff, cfg.AckWait = 3, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}, time.Second

		var mu sync.Mutex
		tries := map[string]int{}
		var okApplied []string
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		go func() {
			// Stop once both bad events are parked.
			for cctx.Err() == nil {
				if info, err := l.Stream(ctx, dlqStream); err == nil && info.Messages == 2 {
					cancel()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		err := l.Consume(cctx, cfg, func(_ context.Context, m *eventlog.Message) error {
			mu.Lock()
			defer mu.Unlock()
			tries[m.ID]++
			switch m.ID {
			case "poison":
				return errors.New("model rejected features")
			case "undecodable":
				return eventlog.Permanent(errors.New("decode: unexpected end of JSON input"))
			}
			okApplied = append(okApplied, m.ID)
			return nil
		})
		if err != nil {
			t.Fatalf("Consume = %v", err)
		}
		if tries["poison"] != 3 {
			t.Errorf("poison tried %d times, want 3 (MaxDeliver)", tries["poison"])
		}
		if tries["undecodable"] != 1 {
			t.Errorf("permanent failure tried %d times, want 1", tries["undecodable"])
		}
		slices.Sort(okApplied)
		if !slices.Equal(okApplied, []string{"ok-1", "ok-2"}) {
			t.Errorf("applied = %v, want [ok-1 ok-2]", okApplied)
		}

		parked := readParked(t, l, dlqStream)
		p := parked["poison"]
		if p == nil {
			t.Fatalf("dead-letter stream = %v, want the poison message", parked)
		}
		if got := p.Header[eventlog.HeaderDLQReason]; got != "model rejected features" {
			t.Errorf("dead-letter reason = %q, want the handler's error", got)
		}
		if got := p.Header[eventlog.HeaderDLQDeliveries]; got != "3" {
			t.Errorf("dead-letter deliveries = %q, want 3", got)
		}
		if string(p.Data) != "not json" || p.Header[eventlog.HeaderDLQSubject] != subj+".x" {
			t.Errorf("dead-letter copy = %q from %q, want the original payload and subject", p.Data, p.Header[eventlog.HeaderDLQSubject])
		}
		if u := parked["undecodable"]; u == nil || !strings.Contains(u.Header[eventlog.HeaderDLQReason], "decode") {
			t.Errorf("permanent failure not dead-lettered with its reason: %+v", u)
		}
	})
}

func TestReplay(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		name, subj := names(t)
		if _, err := l.EnsureStream(ctx, eventlog.StreamConfig{Name: name, Subjects: []string{subj + ".>"}}); err != nil {
			t.Fatal(err)
		}
		publish := func(from, to int) {
			for i := from; i < to; i++ {
				kind := "a"
				if i%2 == 1 {
					kind = "b"
				}
				if _, err := l.Publish(ctx, eventlog.Event{ID: fmt.Sprintf("e%d", i), Subject: subj + "." + kind}); err != nil {
					t.Fatal(err)
				}
			}
		}
		publish(0, 6)
		time.Sleep(50 * time.Millisecond)
		cut := time.Now()
		time.Sleep(50 * time.Millisecond)
		publish(6, 10)

		collect := func(from eventlog.Position, subjects []string) []string {
			var ids []string
			_, err := l.Replay(ctx, name, from, subjects, func(_ context.Context, m *eventlog.Message) error {
				ids = append(ids, m.ID)
				return nil
			})
			if err != nil {
				t.Fatalf("Replay(%v) = %v", from, err)
			}
			return ids
		}
		tests := []struct {
			from     eventlog.Position
			subjects []string
			want     []string
		}{
			{eventlog.FromTime(cut), nil, []string{"e6", "e7", "e8", "e9"}},
			{eventlog.FromSequence(8), nil, []string{"e7", "e8", "e9"}},
			{eventlog.FromBeginning(), []string{subj + ".b"}, []string{"e1", "e3", "e5", "e7", "e9"}},
			{eventlog.FromTime(time.Now().Add(time.Hour)), nil, nil},
			{eventlog.FromSequence(1000), nil, nil},
		}
		for _, tt := range tests {
			if got := collect(tt.from, tt.subjects); !slices.Equal(got, tt.want) {
				t.Errorf("Replay(%v, %v) = %v, want %v", tt.from, tt.subjects, got, tt.want)
			}
		}
		// A handler error stops the replay and names the sequence.
		_, err := l.Replay(ctx, name, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
			if m.ID == "e3" {
				return errors.New("boom")
			}
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "sequence 4") {
			t.Errorf("Replay with failing handler = %v, want error at sequence 4", err)
		}
	})
}

func TestTypedErrors(t *testing.T) {
	t.Run("unreachable names the url", func(t *testing.T) {
		cfg := eventlog.DefaultConfig()
		cfg.URL, cfg.ConnectTimeout = "nats://user:secret@127.0.0.1:1", 500*time.Millisecond
		_, err := eventlog.Open(context.Background(), cfg)
		var ue *eventlog.UnreachableError
		if !errors.As(err, &ue) || !errors.Is(err, eventlog.ErrUnreachable) {
			t.Fatalf("Open(unreachable) = %v, want *UnreachableError", err)
		}
		if !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "secret") {
			t.Errorf("error %q should name the server and hide the password", err)
		}
	})
	t.Run("invalid connection config", func(t *testing.T) {
		_, err := eventlog.Open(context.Background(), eventlog.Config{})
		if !errors.Is(err, eventlog.ErrInvalidConfig) {
			t.Fatalf("Open(zero config) = %v, want ErrInvalidConfig", err)
		}
	})
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		name, subj := names(t)

		if _, err := l.Stream(ctx, "NO_SUCH_STREAM"); !errors.Is(err, eventlog.ErrStreamNotFound) {
			t.Errorf("Stream(missing) = %v, want ErrStreamNotFound", err)
		}
		if _, err := l.Publish(ctx, eventlog.Event{ID: "x", Subject: "nobody.listens." + subj}); !errors.Is(err, eventlog.ErrStreamNotFound) {
			t.Errorf("Publish(no stream) = %v, want ErrStreamNotFound", err)
		}
		if _, err := l.Publish(ctx, eventlog.Event{Subject: subj + ".x"}); !errors.Is(err, eventlog.ErrInvalidEvent) {
			t.Errorf("Publish(no id) = %v, want ErrInvalidEvent", err)
		}
		if _, err := l.Replay(ctx, "NO_SUCH_STREAM", eventlog.FromBeginning(), nil, nil); !errors.Is(err, eventlog.ErrStreamNotFound) {
			t.Errorf("Replay(missing) = %v, want ErrStreamNotFound", err)
		}
		cfg := eventlog.DefaultConsumerConfig()
		cfg.Stream, cfg.Durable = "NO_SUCH_STREAM", "c"
		if err := l.Consume(ctx, cfg, nil); !errors.Is(err, eventlog.ErrStreamNotFound) {
			t.Errorf("Consume(missing stream) = %v, want ErrStreamNotFound", err)
		}

		if _, err := l.EnsureStream(ctx, eventlog.StreamConfig{Name: name, Subjects: []string{subj + ".>"}, MaxMsgSize: 1024}); err != nil {
			t.Fatal(err)
		}
		// Over the stream's limit: refused by the server.
		_, err := l.Publish(ctx, eventlog.Event{ID: "big", Subject: subj + ".x", Data: make([]byte, 4096)})
		if !errors.Is(err, eventlog.ErrMessageTooLarge) {
			t.Errorf("Publish(over stream limit) = %v, want ErrMessageTooLarge", err)
		}
		// Over the server's max payload: refused before sending, with both sizes.
		huge := make([]byte, 2<<20)
		_, err = l.Publish(ctx, eventlog.Event{ID: "huge", Subject: subj + ".x", Data: huge})
		var tl *eventlog.TooLargeError
		if !errors.As(err, &tl) || tl.Limit == 0 || tl.Size <= int(tl.Limit) {
			t.Errorf("Publish(over max payload) = %v, want *TooLargeError with size and limit", err)
		}
		_, err = l.PublishBatch(ctx, []eventlog.Event{{ID: "a", Subject: subj + ".x"}, {ID: "b", Subject: subj + ".x", Data: huge}})
		if !errors.Is(err, eventlog.ErrMessageTooLarge) {
			t.Errorf("PublishBatch(one huge) = %v, want ErrMessageTooLarge", err)
		}
		if info, err := l.Stream(ctx, name); err != nil || info.Messages != 0 {
			t.Errorf("after refused batch: %+v, %v; want nothing stored", info, err)
		}
	})
}

// TestCrashLoopingMessageDeadLettered covers the poison message that kills its consumer
// every time: it is never acked and never fails cleanly, yet after MaxDeliver deliveries it
// must still be parked, with a reason saying so, instead of crash-looping forever.
func TestCrashLoopingMessageDeadLettered(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, admin := ctxT(t), open(t, url)
		name, subj := names(t)
		dlqStream, dlqSubj := name+"_DLQ", "dlq."+subj
		for _, sc := range []eventlog.StreamConfig{{Name: name, Subjects: []string{subj + ".>"}}, {Name: dlqStream, Subjects: []string{dlqSubj}}} {
			if _, err := admin.EnsureStream(ctx, sc); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := admin.Publish(ctx, eventlog.Event{ID: "crasher", Subject: subj + ".x"}); err != nil {
			t.Fatal(err)
		}
		cfg := eventlog.DefaultConsumerConfig()
		cfg.Stream, cfg.Durable, cfg.DeadLetterSubject = name, "scorer", dlqSubj
		cfg.MaxDeliver, cfg.AckWait = 2, 200*time.Millisecond

		handled := 0
		for proc := 0; proc < 5; proc++ {
			if info, err := admin.Stream(ctx, dlqStream); err == nil && info.Messages == 1 {
				break
			}
			l := open(t, url)
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = l.Consume(pctx, cfg, func(context.Context, *eventlog.Message) error {
				handled++
				l.Kill() // the process dies on this event
				cancel()
				return nil
			})
			cancel()
		}
		if handled != 2 {
			t.Errorf("handler ran %d times, want MaxDeliver = 2", handled)
		}
		var reason string
		if _, err := admin.Replay(ctx, dlqStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
			reason = m.Header[eventlog.HeaderDLQReason]
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(reason, "not acknowledged after 2 deliveries") {
			t.Errorf("dead-letter reason = %q, want it to say the message was never acked", reason)
		}
	})
}

// TestPublishBatchLargerThanInFlightLimit publishes more events than may be in flight at once.
// openInFlight64 opens a log on the shared server that keeps at most 64 publishes in
// flight, with a fresh in-memory stream capturing subj.>.
func openInFlight64(t *testing.T) (*eventlog.Log, string) {
	t.Helper()
	ctx := ctxT(t)
	cfg := eventlog.DefaultConfig()
	cfg.URL, cfg.MaxAsyncPending = embedded.URL(), 64
	l, err := eventlog.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	name, subj := names(t)
	if _, err := l.EnsureStream(ctx, eventlog.StreamConfig{Name: name, Subjects: []string{subj + ".>"}, Storage: eventlog.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	return l, subj
}

func TestPublishBatchLargerThanInFlightLimit(t *testing.T) {
	ctx := ctxT(t)
	l, subj := openInFlight64(t)
	evs := make([]eventlog.Event, 1000)
	for i := range evs {
		evs[i] = eventlog.Event{ID: fmt.Sprint(i), Subject: subj + ".x"}
	}
	acks, err := l.PublishBatch(ctx, evs)
	if err != nil {
		t.Fatalf("PublishBatch(1000 with 64 in flight) = %v", err)
	}
	for i, a := range acks {
		if a.Sequence != uint64(i+1) {
			t.Fatalf("ack #%d = %+v, want sequence %d", i, a, i+1)
		}
	}
}

// Batches sent with PublishAsync are stored in the order they were sent, each Wait returns
// its own acks, a repeat is a duplicate, and a batch over the in-flight limit is refused.
func TestPublishAsyncKeepsOrder(t *testing.T) {
	ctx := ctxT(t)
	l, subj := openInFlight64(t)
	batch := func(from, n int) []eventlog.Event {
		evs := make([]eventlog.Event, n)
		for i := range evs {
			evs[i] = eventlog.Event{ID: fmt.Sprint(from + i), Subject: subj + ".x"}
		}
		return evs
	}
	var pending []*eventlog.Pending
	for b := range 5 {
		p, err := l.PublishAsync(batch(b*50, 50))
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	repeat, err := l.PublishAsync(batch(0, 10))
	if err != nil {
		t.Fatal(err)
	}
	for b := len(pending) - 1; b >= 0; b-- { // collected in any order
		acks, err := pending[b].Wait(ctx)
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		for i, a := range acks {
			if want := uint64(b*50 + i + 1); a.Sequence != want || a.Duplicate {
				t.Fatalf("batch %d ack #%d = %+v, want sequence %d, not a duplicate", b, i, a, want)
			}
		}
	}
	acks, err := repeat.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range acks {
		if !a.Duplicate || a.Sequence != uint64(i+1) {
			t.Fatalf("repeated event #%d: ack %+v, want a duplicate of sequence %d", i, a, i+1)
		}
	}
	if _, err := l.PublishAsync(batch(1000, 65)); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Errorf("PublishAsync(65 events, limit 64) = %v, want ErrInvalidEvent", err)
	}
	if _, err := l.PublishAsync([]eventlog.Event{{Subject: subj + ".x"}}); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Errorf("PublishAsync(event without id) = %v, want ErrInvalidEvent", err)
	}
}

// readParked reads the dead-letter stream, by original event id.
func readParked(t *testing.T, l *eventlog.Log, dlqStream string) map[string]*eventlog.Message {
	t.Helper()
	parked := map[string]*eventlog.Message{}
	if _, err := l.Replay(context.Background(), dlqStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		parked[m.Header[eventlog.HeaderDLQEventID]] = m
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return parked
}
