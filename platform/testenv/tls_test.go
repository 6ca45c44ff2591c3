package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	fredis "github.com/casebook-ml/casebook/platform/features/redis"
)

// TestTLS starts a NATS server and a Redis server that accept TLS only, with a CA and a
// server certificate generated for this run, and goes through Casebook's own constructors:
// the event log publishes and replays an event, the Redis online store writes and reads a
// feature, both over TLS. Clients that do not trust the CA are refused with an x509 error,
// and clients that do not speak TLS are refused too.
func TestTLS(t *testing.T) {
	env.NATSURL(t) // skips without a Docker engine, like every integration test here
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	certs, err := GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var natsC, redisC *Container
	var natsErr, redisErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); natsC, natsErr = StartNATSTLS(ctx, certs) }()
	go func() { defer wg.Done(); redisC, redisErr = StartRedisTLS(ctx, certs) }()
	wg.Wait()
	for _, c := range []*Container{natsC, redisC} {
		if c != nil {
			t.Cleanup(func() { _ = c.Terminate(context.Background()) })
		}
	}
	if err := errors.Join(natsErr, redisErr); err != nil {
		t.Fatal(err)
	}
	untrusted := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12} // trusts nothing

	t.Run("NATS", func(t *testing.T) {
		open := func(url string, tc *tls.Config) (*eventlog.Log, error) {
			cfg := eventlog.DefaultConfig()
			cfg.URL, cfg.TLS = url, tc
			return eventlog.Open(ctx, cfg)
		}
		l, err := open(natsC.URL(), certs.ClientConfig)
		if err != nil {
			t.Fatalf("eventlog.Open(%s, TLS with the CA) = %v", natsC.URL(), err)
		}
		defer l.Close()
		if _, err := l.EnsureStream(ctx, eventlog.StreamConfig{Name: "TLS", Subjects: []string{"tls.>"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Publish(ctx, eventlog.Event{ID: "e1", Subject: "tls.hello", Data: []byte("over tls")}); err != nil {
			t.Fatalf("Publish over TLS = %v", err)
		}
		var got []string
		if _, err := l.Replay(ctx, "TLS", eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
			got = append(got, string(m.Data))
			return nil
		}); err != nil || len(got) != 1 || got[0] != "over tls" {
			t.Errorf("Replay over TLS = %q, %v; want the published event", got, err)
		}

		_, err = open(natsC.URL(), untrusted)
		t.Logf("NATS client without the CA: %v", err)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) && (err == nil || !strings.Contains(err.Error(), "x509")) {
			t.Errorf("eventlog.Open without the CA = %v, want an x509 unknown-authority error", err)
		}
		if _, err := open("nats://"+natsC.Addr(), nil); err == nil {
			t.Error("eventlog.Open without TLS connected to a TLS-only server")
		}
	})

	t.Run("Redis", func(t *testing.T) {
		reg, err := featurestest.Registry()
		if err != nil {
			t.Fatal(err)
		}
		open := func(tc *tls.Config) *fredis.Store {
			cfg := fredis.DefaultConfig()
			cfg.Addr, cfg.TLS, cfg.Timeout = redisC.Addr(), tc, 2*time.Second
			s, err := fredis.New(cfg, reg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		s := open(certs.ClientConfig)
		now := time.Now().UTC().Truncate(time.Second)
		row := featurestest.ProfileRow("alice", now, 1, 42)
		if _, err := s.Write(ctx, "profile", []features.Row{row}); err != nil {
			t.Fatalf("Write over TLS = %v", err)
		}
		res, err := s.Read(ctx, features.ReadRequest{At: now, Views: []features.ViewRequest{{View: "profile", Features: []string{"age"}, Entities: []string{"alice"}}}})
		if err != nil || res.Views[0].Get(0, 0).Value.Int() != 42 {
			t.Fatalf("Read over TLS = %+v, %v; want age 42", res, err)
		}

		_, err = open(untrusted).Write(ctx, "profile", []features.Row{row})
		t.Logf("Redis client without the CA: %v", err)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) && (err == nil || !strings.Contains(err.Error(), "x509")) {
			t.Errorf("Write without the CA = %v, want an x509 unknown-authority error", err)
		}
		if _, err := open(nil).Write(ctx, "profile", []features.Row{row}); err == nil {
			t.Error("Write in the clear succeeded against a TLS-only server")
		}
	})
}
