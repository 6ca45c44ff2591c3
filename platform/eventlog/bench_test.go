package eventlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// The benchmarks put the wrapper beside raw nats.go doing the same work in the same run, so
// the overhead of eventlog is read off one table: msgs/s for each, on each backend.
//
//	go test -run '^$' -bench . -benchtime 20000x ./eventlog/

var payload = []byte(`{"tx":"0000000001","customer":4242,"terminal":9191,"amount":57.16}`)

func benchBackends(b *testing.B, f func(b *testing.B, url string)) {
	b.Run("backend=embedded", func(b *testing.B) { f(b, embedded.URL()) })
	b.Run("backend=container", func(b *testing.B) { f(b, env.NATSURL(b)) })
}

func benchStream(b *testing.B, l *eventlog.Log) (stream, subject string) {
	b.Helper()
	stream, subj := names(b)
	if _, err := l.EnsureStream(context.Background(), eventlog.StreamConfig{Name: stream, Subjects: []string{subj + ".>"}}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.DeleteStream(context.Background(), stream) })
	return stream, subj + ".tx"
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkPublishSync(b *testing.B) {
	benchBackends(b, func(b *testing.B, url string) {
		b.Run("client=raw", func(b *testing.B) {
			l := open(b, url)
			_, subj := benchStream(b, l)
			js, _ := jetstream.New(l.Conn())
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := js.Publish(ctx, subj, payload, jetstream.WithMsgID(fmt.Sprintf("r-%d", i))); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
		b.Run("client=eventlog", func(b *testing.B) {
			l := open(b, url)
			_, subj := benchStream(b, l)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Publish(ctx, eventlog.Event{ID: fmt.Sprintf("e-%d", i), Subject: subj, Data: payload}); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
	})
}

const batch = 256

func BenchmarkPublishAsync(b *testing.B) {
	benchBackends(b, func(b *testing.B, url string) {
		b.Run("client=raw", func(b *testing.B) {
			l := open(b, url)
			_, subj := benchStream(b, l)
			js, _ := jetstream.New(l.Conn(), jetstream.WithPublishAsyncMaxPending(4096))
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				futures := make([]jetstream.PubAckFuture, n)
				for j := range n {
					m := nats.NewMsg(subj)
					m.Data = payload
					m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("r-%d", i+j))
					f, err := js.PublishMsgAsync(m)
					if err != nil {
						b.Fatal(err)
					}
					futures[j] = f
				}
				for _, f := range futures {
					select {
					case <-f.Ok():
					case err := <-f.Err():
						b.Fatal(err)
					}
				}
			}
			reportRate(b)
		})
		b.Run("client=eventlog", func(b *testing.B) {
			l := open(b, url)
			_, subj := benchStream(b, l)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				evs := make([]eventlog.Event, n)
				for j := range n {
					evs[j] = eventlog.Event{ID: fmt.Sprintf("e-%d", i+j), Subject: subj, Data: payload}
				}
				if _, err := l.PublishBatch(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
	})
}

// fill publishes n events outside the timer.
func fill(b *testing.B, l *eventlog.Log, subj string, n int) {
	b.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += 1024 {
		evs := make([]eventlog.Event, min(1024, n-i))
		for j := range evs {
			evs[j] = eventlog.Event{ID: fmt.Sprintf("f-%d", i+j), Subject: subj, Data: payload}
		}
		if _, err := l.PublishBatch(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConsume(b *testing.B) {
	benchBackends(b, func(b *testing.B, url string) {
		b.Run("client=raw", func(b *testing.B) {
			l := open(b, url)
			stream, subj := benchStream(b, l)
			fill(b, l, subj, b.N)
			js, _ := jetstream.New(l.Conn())
			ctx := context.Background()
			b.ResetTimer()
			cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
				Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: 1024,
			})
			if err != nil {
				b.Fatal(err)
			}
			it, err := cons.Messages(jetstream.PullMaxMessages(256))
			if err != nil {
				b.Fatal(err)
			}
			defer it.Stop()
			for i := 0; i < b.N; i++ {
				m, err := it.Next()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.Metadata(); err != nil {
					b.Fatal(err)
				}
				if err := m.Ack(); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
		b.Run("client=eventlog", func(b *testing.B) {
			l := open(b, url)
			stream, subj := benchStream(b, l)
			fill(b, l, subj, b.N)
			cfg := eventlog.DefaultConsumerConfig()
			cfg.Stream, cfg.Durable = stream, "wrapped"
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := 0
			b.ResetTimer()
			err := l.Consume(ctx, cfg, func(context.Context, *eventlog.Message) error {
				got++
				if got == b.N {
					cancel()
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			reportRate(b)
		})
	})
}

// BenchmarkConsumeOrdered puts ConsumeOrdered (batches of up to 256, one cumulative ack
// each) beside Consume (one message and one ack at a time) and beside Consume with
// MaxAckPending 1, the way an order-sensitive reader had to use it before. The handlers
// do nothing, so this is the consumer's own cost.
//
//	go test -run '^$' -bench ConsumeOrdered -benchtime 20000x ./eventlog/
func BenchmarkConsumeOrdered(b *testing.B) {
	benchBackends(b, func(b *testing.B, url string) {
		consume := func(b *testing.B, batchSize, maxAckPending int) {
			l := open(b, url)
			stream, subj := benchStream(b, l)
			fill(b, l, subj, b.N)
			cfg := eventlog.DefaultConsumerConfig()
			cfg.Stream, cfg.Durable, cfg.BatchSize, cfg.MaxAckPending = stream, "wrapped", batchSize, maxAckPending
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := 0
			b.ResetTimer()
			err := l.Consume(ctx, cfg, func(context.Context, *eventlog.Message) error {
				if got++; got == b.N {
					cancel()
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			reportRate(b)
		}
		b.Run("client=consume/pending=1", func(b *testing.B) { consume(b, 1, 1) })
		b.Run("client=consume/pending=1024", func(b *testing.B) { consume(b, 256, 1024) })
		b.Run("client=ordered/pending=1024", func(b *testing.B) {
			l := open(b, url)
			stream, subj := benchStream(b, l)
			fill(b, l, subj, b.N)
			cfg := eventlog.DefaultConsumerConfig()
			cfg.Stream, cfg.Durable, cfg.BatchSize, cfg.MaxAckPending = stream, "ordered", 256, 1024
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got, batches, largest := 0, 0, 0
			b.ResetTimer()
			err := l.ConsumeOrdered(ctx, cfg, func(_ context.Context, batch []*eventlog.Message) (int, error) {
				got += len(batch)
				batches++
				largest = max(largest, len(batch))
				if got >= b.N {
					cancel()
				}
				return len(batch), nil
			})
			if err != nil {
				b.Fatal(err)
			}
			reportRate(b)
			b.ReportMetric(float64(got)/float64(batches), "msgs/batch")
			b.ReportMetric(float64(largest), "max-batch")
		})
	})
}
