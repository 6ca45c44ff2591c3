package natstarget_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/natstarget"
)

func startServer(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

func runLoad(t *testing.T, tg loadgen.Target, rate float64) *loadgen.Report {
	t.Helper()
	wl, err := loadgen.NewZipf(`{"card":"{{key}}"}`, 100, 1.1)
	if err != nil {
		t.Fatal(err)
	}
	return runEngine(t, tg, wl, rate, 500*time.Millisecond, loadgen.DefaultConfig().Timeout, 8)
}

func TestPublishWithAck(t *testing.T) {
	s := startServer(t)
	cfg := natstarget.DefaultConfig()
	cfg.URL = s.ClientURL()
	cfg.Subject = "loadgen.test.events"
	cfg.Stream = "LOADGEN_TEST"
	tg, err := natstarget.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer tg.Close()
	rep := runLoad(t, tg, 400)
	if rep.Sent != 200 || rep.OK != 200 {
		t.Fatalf("sent %d ok %d (errors %v), want 200 and 200", rep.Sent, rep.OK, rep.Errors)
	}
	// Every acknowledged publish is stored: the stream holds exactly what was sent.
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	info, err := js.StreamInfo("LOADGEN_TEST")
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 200 {
		t.Errorf("stream holds %d messages, want 200", info.State.Msgs)
	}
	if rep.Corrected.P50Ms <= 0 {
		t.Errorf("corrected p50 = %v, want > 0", rep.Corrected.P50Ms)
	}
}

func TestRequestReply(t *testing.T) {
	s := startServer(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.Subscribe("score", func(m *nats.Msg) { _ = m.Respond([]byte(`{"score":0.5}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()

	cfg := natstarget.DefaultConfig()
	cfg.URL = s.ClientURL()
	cfg.Mode = natstarget.Request
	cfg.Subject = "score"
	tg, err := natstarget.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer tg.Close()
	rep := runLoad(t, tg, 400)
	if rep.Sent != 200 || rep.OK != 200 {
		t.Fatalf("sent %d ok %d (errors %v), want 200 and 200", rep.Sent, rep.OK, rep.Errors)
	}
	if n, _, _ := sub.Pending(); n < 0 {
		t.Fatal("subscription broken")
	}

	// Without a responder every request fails, and the report says why.
	sub.Unsubscribe()
	nc.Flush()
	rep = runLoad(t, tg, 100)
	if got := rep.Errors["nats: no responders"]; got != rep.Sent || got == 0 {
		t.Errorf("errors = %v, want every one of %d requests as %q", rep.Errors, rep.Sent, "nats: no responders")
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name   string
		mutate func(*natstarget.Config)
		want   error
	}{
		{"unreachable server", func(c *natstarget.Config) { c.URL = "nats://127.0.0.1:1" }, loadgen.ErrUnreachable},
		{"non-loopback host", func(c *natstarget.Config) { c.URL = "nats://nats.example.com:4222" }, loadgen.ErrHostNotAllowed},
		{"wrong scheme", func(c *natstarget.Config) { c.URL = "http://127.0.0.1:4222" }, loadgen.ErrUnknownTarget},
		{"no stream for subject", func(c *natstarget.Config) { c.Stream = "" }, loadgen.ErrInvalidConfig},
		{"wildcard subject", func(c *natstarget.Config) { c.Subject = "events.>" }, loadgen.ErrInvalidConfig},
		{"unknown mode", func(c *natstarget.Config) { c.Mode = "broadcast" }, loadgen.ErrInvalidConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := natstarget.DefaultConfig()
			cfg.URL = s.ClientURL()
			cfg.Subject = "loadgen.bad"
			cfg.Stream = "BAD"
			tc.mutate(&cfg)
			tg, err := natstarget.New(context.Background(), cfg)
			if err == nil {
				tg.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("New(%s) error = %v, want %v", tc.name, err, tc.want)
			}
		})
	}
}
