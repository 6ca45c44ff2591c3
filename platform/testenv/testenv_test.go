package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// env is filled in by TestMain; integration tests skip through it when no
// Docker engine answers.
var env *Env

func TestMain(m *testing.M) {
	os.Exit(Run(m, Services{NATS: true, Redis: true}, &env))
}

func TestRedisSetGet(t *testing.T) {
	addr := env.RedisAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("RedisAddr() = %q, want 127.0.0.1:port", addr)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })

	tests := []struct {
		name, key, value string
		ttl              time.Duration
	}{
		{name: "plain", key: "testenv:plain", value: "hello"},
		{name: "empty value", key: "testenv:empty", value: ""},
		{name: "with ttl", key: "testenv:ttl", value: "expires", ttl: time.Minute},
		{name: "binary", key: "testenv:bin", value: "\x00\xff\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if err := rdb.Set(ctx, tt.key, tt.value, tt.ttl).Err(); err != nil {
				t.Fatalf("SET %s: %v", tt.key, err)
			}
			got, err := rdb.Get(ctx, tt.key).Result()
			if err != nil {
				t.Fatalf("GET %s: %v", tt.key, err)
			}
			if got != tt.value {
				t.Errorf("GET %s = %q, want %q", tt.key, got, tt.value)
			}
		})
	}
}

func TestNATSJetStreamStoresMessage(t *testing.T) {
	url := env.NATSURL(t)
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Errorf("NATSURL() = %q, want nats://127.0.0.1:port", url)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("nats.Connect(%q): %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}

	tests := []struct {
		name    string
		storage jetstream.StorageType
	}{
		{name: "file", storage: jetstream.FileStorage},
		{name: "memory", storage: jetstream.MemoryStorage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			stream := "TESTENV_" + strings.ToUpper(tt.name)
			subject := "testenv." + tt.name
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{
				Name:     stream,
				Subjects: []string{subject},
				Storage:  tt.storage,
			})
			if err != nil {
				t.Fatalf("CreateStream(%s): %v", stream, err)
			}
			t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream) })

			payload := []byte("event " + tt.name)
			ack, err := js.Publish(ctx, subject, payload)
			if err != nil {
				t.Fatalf("Publish(%s): %v", subject, err)
			}
			if ack.Stream != stream || ack.Sequence != 1 {
				t.Errorf("Publish(%s) ack = {Stream: %s, Sequence: %d}, want {%s, 1}", subject, ack.Stream, ack.Sequence, stream)
			}
			msg, err := s.GetMsg(ctx, ack.Sequence)
			if err != nil {
				t.Fatalf("GetMsg(%d): %v", ack.Sequence, err)
			}
			if string(msg.Data) != string(payload) {
				t.Errorf("GetMsg(%d).Data = %q, want %q", ack.Sequence, msg.Data, payload)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatalf("stream Info: %v", err)
			}
			if info.State.Msgs != 1 {
				t.Errorf("stream %s holds %d messages, want 1", stream, info.State.Msgs)
			}
		})
	}
}

func TestStartRedisOwnContainer(t *testing.T) {
	if ok, reason := env.Available(); !ok {
		t.Skip(reason)
	}
	ctx := t.Context()
	c, err := StartRedis(ctx)
	if err != nil {
		t.Fatalf("StartRedis: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Terminate(context.Background()); err != nil {
			t.Errorf("Terminate: %v", err)
		}
	})
	if c.Addr() == env.RedisAddr(t) {
		t.Errorf("StartRedis().Addr() = %s, the same as the shared server's", c.Addr())
	}
	if want := "redis://" + c.Addr(); c.URL() != want {
		t.Errorf("URL() = %q, want %q", c.URL(), want)
	}
	rdb := redis.NewClient(&redis.Options{Addr: c.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Errorf("PING %s: %v", c.Addr(), err)
	}
}

// BenchmarkStart measures how long a fresh container takes to start and answer
// (terminating it is not timed): go test -run '^$' -bench Start -benchtime 10x ./testenv/
func BenchmarkStart(b *testing.B) {
	if ok, reason := env.Available(); !ok {
		b.Skip(reason)
	}
	starts := []struct {
		name  string
		start func(context.Context) (*Container, error)
	}{
		{name: "redis", start: StartRedis},
		{name: "nats", start: StartNATS},
	}
	for _, s := range starts {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				c, err := s.start(b.Context())
				if err != nil {
					b.Fatalf("start %s: %v", s.name, err)
				}
				b.StopTimer()
				if err := c.Terminate(context.Background()); err != nil {
					b.Fatalf("Terminate: %v", err)
				}
				b.StartTimer()
			}
		})
	}
}
