package walkthrough

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/scenario"
)

var day0 = time.Date(2018, 4, 1, 0, 0, 0, 0, time.UTC)

func duplicatePublish(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "eventlog/duplicate-publish",
		Summary: "A producer retries publishes whose acks were lost; event ids make the log store each event once.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			l, err := openLog(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer l.Close()
			const n, lossRate = 1000, 0.3
			txs := transactions(1, n, 100, day0, 1)

			r.Step("Publish %d transactions through a flaky network that loses %.0f%% of the acknowledgements", n, lossRate*100)
			r.Say("A producer that gets no ack cannot know whether the event was stored, so it publishes again.")
			r.Say("Then it restarts and resends its last 100 events, as producers do after a crash.")
			if err := freshStream(ctx, l, eventlog.StreamConfig{Name: "DEMO_DEDUP", Subjects: []string{"demo.dedup.>"}}); err != nil {
				return err
			}
			if err := freshStream(ctx, l, eventlog.StreamConfig{Name: "DEMO_NAIVE", Subjects: []string{"demo.naive.>"}}); err != nil {
				return err
			}
			rng := rand.New(rand.NewPCG(7, 7))
			attempts, dups, naiveAttempts := 0, 0, 0
			for _, t := range txs {
				retry := rng.Float64() < lossRate
				for try := 0; try < 1+boolInt(retry); try++ {
					ack, err := l.Publish(ctx, t.event("demo.dedup.tx"))
					if err != nil {
						return err
					}
					attempts++
					if ack.Duplicate {
						dups++
					}
					// The naive producer mints a new id on every attempt.
					naive := t.event("demo.naive.tx")
					naive.ID = fmt.Sprintf("%s-attempt-%d", t.ID, try)
					if _, err := l.Publish(ctx, naive); err != nil {
						return err
					}
					naiveAttempts++
				}
			}
			resend := events(txs[n-100:], "demo.dedup.tx")
			acks, err := l.PublishBatch(ctx, resend)
			if err != nil {
				return err
			}
			attempts += len(resend)
			for _, a := range acks {
				if a.Duplicate {
					dups++
				}
			}
			naiveResend := events(txs[n-100:], "demo.naive.tx")
			for i := range naiveResend {
				naiveResend[i].ID += "-resent"
			}
			if _, err := l.PublishBatch(ctx, naiveResend); err != nil {
				return err
			}
			naiveAttempts += len(naiveResend)

			r.Step("Count what the log stored")
			withIDs, err := l.Stream(ctx, "DEMO_DEDUP")
			if err != nil {
				return err
			}
			naive, err := l.Stream(ctx, "DEMO_NAIVE")
			if err != nil {
				return err
			}
			r.Measure("publish attempts", float64(attempts), "")
			r.Measure("events stored with stable ids", float64(withIDs.Messages), "")
			r.Measure("duplicates the server dropped", float64(dups), "")
			r.Measure("events stored by the naive producer", float64(naive.Messages), "")
			over := float64(naive.Messages-n) / n * 100
			r.Measure("naive over-count", over, "%")
			r.Say("Every downstream count, sum and training label built on the naive stream is inflated by that much.")
			r.Check(fmt.Sprintf("the log holds exactly %d events although %d publishes were made", n, attempts), withIDs.Messages == n)
			r.Check("every retry was recognised as a duplicate", attempts-dups == n)
			r.Check("without stable ids the retries became extra events", naive.Messages == uint64(naiveAttempts))
			r.Say("Limit: the server remembers ids for the stream's duplicates window (%v by default);", eventlog.DefaultDuplicates)
			r.Say("a retry later than that is stored again, so consumers deduplicate by id as well (see eventlog/consumer-crash).")
			return nil
		},
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func consumerCrash(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "eventlog/consumer-crash",
		Summary: "A consumer dies before acking; its events come back and an idempotent handler applies each once.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			admin, err := openLog(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer admin.Close()
			const n, crashAfter = 2000, 700
			txs := transactions(2, n, 200, day0, 3)
			if err := freshStream(ctx, admin, eventlog.StreamConfig{Name: "DEMO_CRASH", Subjects: []string{"demo.crash.>"}}); err != nil {
				return err
			}
			r.Step("Append %d transactions to the log", n)
			if _, err := admin.PublishBatch(ctx, events(txs, "demo.crash.tx")); err != nil {
				return err
			}
			r.Say("their amounts add up to %.2f", sumAmounts(txs))

			cc := eventlog.DefaultConsumerConfig()
			cc.Stream, cc.Durable, cc.AckWait, cc.BatchSize = "DEMO_CRASH", "ledger", time.Second, 100
			idem, naive := newLedger(), newLedger()
			var mu sync.Mutex
			deliveries, redeliveries := 0, 0
			handle := func(crash func(int)) eventlog.Handler {
				return func(_ context.Context, m *eventlog.Message) error {
					t, err := decodeTx(m)
					if err != nil {
						return err
					}
					mu.Lock()
					defer mu.Unlock()
					deliveries++
					if m.Deliveries > 1 {
						redeliveries++
					}
					idem.apply(t)
					naive.applyNaive(t)
					if crash != nil {
						crash(deliveries)
					}
					return nil
				}
			}

			r.Step("Consumer process A applies events to a ledger, and dies after %d, before acking", crashAfter)
			a, err := eventlog.Open(ctx, withURL(admin.URL(), cfg))
			if err != nil {
				return err
			}
			actx, cancel := context.WithCancel(ctx)
			err = a.Consume(actx, cc, handle(func(d int) {
				if d == crashAfter {
					a.Kill() // no flush, no goodbye: acks still in its buffer are lost too
					cancel()
				}
			}))
			cancel()
			if err != nil && !errors.Is(err, eventlog.ErrUnreachable) {
				return err
			}
			crashedAt := time.Now()
			st, err := admin.ConsumerState(ctx, cc.Stream, cc.Durable)
			if err != nil {
				return err
			}
			r.Say("the server still counts %d events handed out and not acked", st.AckPending)

			r.Step("Consumer process B starts on the same durable consumer and catches up")
			r.Say("The server redelivers A's unacked events once their ack wait (%v) runs out.", cc.AckWait)
			b, err := eventlog.Open(ctx, withURL(admin.URL(), cfg))
			if err != nil {
				return err
			}
			defer b.Close()
			bctx, bcancel := context.WithTimeout(ctx, 30*time.Second)
			defer bcancel()
			caught := watchCaughtUp(bctx, admin, cc, bcancel)
			if err := b.Consume(bctx, cc, handle(nil)); err != nil {
				return err
			}
			if !caught() {
				return fmt.Errorf("consumer B did not catch up within 30s")
			}
			recovery := time.Since(crashedAt)

			r.Step("Compare the ledgers")
			r.Measure("deliveries", float64(deliveries), "")
			r.Measure("redeliveries after the crash", float64(redeliveries), "")
			r.Measure("time from crash to caught up", recovery.Seconds(), "s")
			r.Measure("idempotent ledger total", idem.total(), "")
			r.Measure("naive ledger total", naive.total(), "")
			r.Check("nothing was lost: every event reached the ledger", idem.events == n)
			r.Check("nothing was applied twice: the idempotent total equals the true total", idem.total() == sumAmounts(txs))
			r.Check("the crash caused redeliveries (at-least-once delivery)", redeliveries > 0)
			r.Check("a handler without idempotence double-counted them", naive.total() > sumAmounts(txs))
			r.Say("The ids applied are kept beside the ledger (here in the same map; in production in the same")
			r.Say("database write), so the check survives the crash together with the effects.")
			return nil
		},
	}
}

// withURL is the scenario's event-log config pointed at a server already running, so that
// a second "process" joins the first one's server.
func withURL(url string, cfg Config) eventlog.Config {
	lc := eventlog.DefaultConfig()
	lc.URL, lc.Logger = url, cfg.Logger
	return lc
}

// watchCaughtUp cancels the consumer once the server reports every event acked, and returns
// a function saying whether that happened.
func watchCaughtUp(ctx context.Context, admin *eventlog.Log, cc eventlog.ConsumerConfig, cancel context.CancelFunc) func() bool {
	var mu sync.Mutex
	done := false
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if st, err := admin.ConsumerState(ctx, cc.Stream, cc.Durable); err == nil && st.Caught() {
				mu.Lock()
				done = true
				mu.Unlock()
				cancel()
				return
			}
		}
	}()
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		return done
	}
}

func poisonMessage(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "eventlog/poison-message",
		Summary: "Two bad events are retried with backoff, then parked on a dead-letter subject with the reason; the rest flow on.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			l, err := openLog(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer l.Close()
			const n = 500
			txs := transactions(3, n, 50, day0, 1)
			evs := events(txs, "demo.poison.tx")
			evs[137].Data = []byte(`{"id":"tx-000137","amount":`) // truncated: can never decode
			txs[300].Customer = -1                                // decodes, but no customer -1 exists
			evs[300] = txs[300].event("demo.poison.tx")
			for _, sc := range []eventlog.StreamConfig{
				{Name: "DEMO_POISON", Subjects: []string{"demo.poison.>"}},
				{Name: "DEMO_POISON_DLQ", Subjects: []string{"demo.dlq.poison"}, Description: "dead letters of DEMO_POISON"},
			} {
				if err := freshStream(ctx, l, sc); err != nil {
					return err
				}
			}
			r.Step("Append %d transactions; #137 is truncated JSON, #300 names a customer that does not exist", n)
			if _, err := l.PublishBatch(ctx, evs); err != nil {
				return err
			}

			cc := eventlog.DefaultConsumerConfig()
			cc.Stream, cc.Durable, cc.DeadLetterSubject = "DEMO_POISON", "scorer", "demo.dlq.poison"
			cc.MaxDeliver, cc.Backoff = 4, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
			r.Step("Consume with MaxDeliver=%d and backoff %v", cc.MaxDeliver, cc.Backoff)
			r.Say("A decode error is permanent (retrying cannot fix it): parked at once.")
			r.Say("An unknown customer might be a lagging reference table: retried with backoff, then parked.")
			led := newLedger()
			var mu sync.Mutex
			var tries []time.Time
			appliedDuringBackoff := 0
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			caught := watchCaughtUp(cctx, l, cc, cancel)
			start := time.Now()
			err = l.Consume(cctx, cc, func(_ context.Context, m *eventlog.Message) error {
				t, err := decodeTx(m)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				if t.Customer < 0 {
					tries = append(tries, time.Now())
					return fmt.Errorf("customer %d not found in the customer table", t.Customer)
				}
				if len(tries) > 0 && len(tries) < cc.MaxDeliver {
					appliedDuringBackoff++
				}
				led.apply(t)
				return nil
			})
			if err != nil {
				return err
			}
			if !caught() {
				return fmt.Errorf("consumer did not finish within 30s")
			}
			r.Step("What happened")
			for i, at := range tries {
				r.Say("try %d of #300 at +%4.0f ms", i+1, float64(at.Sub(start).Microseconds())/1000)
			}
			r.Measure("events applied", float64(led.events), "")
			r.Measure("tries of the unknown-customer event", float64(len(tries)), "")
			r.Measure("events applied while it was backing off", float64(appliedDuringBackoff), "")

			var parked []*eventlog.Message
			if _, err := l.Replay(ctx, "DEMO_POISON_DLQ", eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
				parked = append(parked, m)
				return nil
			}); err != nil {
				return err
			}
			r.Step("The dead-letter stream holds %d events", len(parked))
			for _, p := range parked {
				r.Say("%s (from %s seq %s, %s deliveries): %s", p.Header[eventlog.HeaderDLQEventID], p.Header[eventlog.HeaderDLQStream],
					p.Header[eventlog.HeaderDLQSequence], p.Header[eventlog.HeaderDLQDeliveries], p.Header[eventlog.HeaderDLQReason])
			}
			r.Check(fmt.Sprintf("the %d good events were all applied", n-2), led.events == n-2)
			r.Check(fmt.Sprintf("the unknown-customer event was tried exactly MaxDeliver=%d times", cc.MaxDeliver), len(tries) == cc.MaxDeliver)
			r.Check("backoff grew between tries", len(tries) == 4 && tries[3].Sub(tries[2]) > tries[1].Sub(tries[0]))
			r.Check("the consumer kept flowing while the bad event waited", appliedDuringBackoff > 0)
			reasons := make([]string, 0, len(parked))
			for _, p := range parked {
				reasons = append(reasons, p.Header[eventlog.HeaderDLQReason])
			}
			all := strings.Join(reasons, " | ")
			r.Check("both bad events were parked with their reasons", len(parked) == 2 &&
				strings.Contains(all, "decode transaction tx-000137") && strings.Contains(all, "customer -1 not found"))
			r.Say("Parked events keep their payload and headers: fix the cause, then republish them from the dead-letter stream.")
			return nil
		},
	}
}

func replay(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "eventlog/replay",
		Summary: "State lost? Replay the log: batch over history gives the same answer as the live stream, and backfills start from a time.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			l, err := openLog(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer l.Close()
			const n, later = 5000, 500
			txs := transactions(4, n+later, 300, day0, 10)
			if err := freshStream(ctx, l, eventlog.StreamConfig{Name: "DEMO_REPLAY", Subjects: []string{"demo.replay.>"}}); err != nil {
				return err
			}

			r.Step("Streaming: a live consumer keeps per-customer spend while %d transactions arrive", n)
			live := newLedger()
			cc := eventlog.DefaultConsumerConfig()
			cc.Stream, cc.Durable = "DEMO_REPLAY", "spend"
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var mu sync.Mutex
			consumed := make(chan error, 1)
			go func() {
				consumed <- l.Consume(cctx, cc, func(_ context.Context, m *eventlog.Message) error {
					t, err := decodeTx(m)
					if err != nil {
						return err
					}
					mu.Lock()
					live.apply(t)
					mu.Unlock()
					return nil
				})
			}()
			if _, err := l.PublishBatch(ctx, events(txs[:n], "demo.replay.tx")); err != nil {
				return err
			}
			for {
				st, err := l.ConsumerState(ctx, cc.Stream, cc.Durable)
				if err != nil {
					return err
				}
				if st.Caught() {
					break
				}
				if cctx.Err() != nil {
					return fmt.Errorf("live consumer did not catch up")
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if err := <-consumed; err != nil {
				return err
			}
			r.Say("live state: %d customers, total spend %.2f", len(live.spend), live.total())

			r.Step("The service restarts with a bug fix and no snapshot: rebuild the state by replaying the log")
			rebuilt := newLedger()
			start := time.Now()
			stats, err := l.Replay(ctx, "DEMO_REPLAY", eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
				t, err := decodeTx(m)
				if err != nil {
					return err
				}
				rebuilt.apply(t)
				return nil
			})
			if err != nil {
				return err
			}
			elapsed := time.Since(start)
			r.Measure("events replayed", float64(stats.Events), "")
			r.Measure("replay rate", float64(stats.Events)/elapsed.Seconds(), "events/s")
			r.Check("the batch rebuild equals the streaming state, customer by customer", rebuilt.equal(live))

			r.Step("Backfill: replay only what the log stored after a point in time")
			time.Sleep(20 * time.Millisecond)
			cut := time.Now()
			time.Sleep(20 * time.Millisecond)
			if _, err := l.PublishBatch(ctx, events(txs[n:], "demo.replay.tx")); err != nil {
				return err
			}
			var firstID, lastID string
			stats, err = l.Replay(ctx, "DEMO_REPLAY", eventlog.FromTime(cut), nil, func(_ context.Context, m *eventlog.Message) error {
				if firstID == "" {
					firstID = m.ID
				}
				lastID = m.ID
				return nil
			})
			if err != nil {
				return err
			}
			r.Say("from %s: %d events, %s … %s", cut.Format("15:04:05.000"), stats.Events, firstID, lastID)
			r.Check(fmt.Sprintf("replay from the cut returned exactly the %d later events", later),
				stats.Events == later && firstID == txs[n].ID && lastID == txs[n+later-1].ID)
			seqStats, err := l.Replay(ctx, "DEMO_REPLAY", eventlog.FromSequence(uint64(n+1)), nil, func(context.Context, *eventlog.Message) error { return nil })
			if err != nil {
				return err
			}
			r.Check(fmt.Sprintf("replay from sequence %d returned the same %d", n+1, later), seqStats.Events == later && seqStats.FirstSeq == uint64(n+1))
			r.Say("Replay by time uses the log's append time. Event time (when the card was used) travels in the")
			r.Say("%s header; rebuilding as of an event time means replaying from a little earlier and filtering.", eventlog.HeaderEventTime)
			return nil
		},
	}
}
