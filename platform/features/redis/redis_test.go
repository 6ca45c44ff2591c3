package redis_test

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	fredis "github.com/casebook-ml/casebook/platform/features/redis"
	"github.com/casebook-ml/casebook/platform/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Services{Redis: true}, &env))
}

var prefixes atomic.Int64

func newStore(t testing.TB, addr string, reg *features.Registry) *fredis.Store {
	t.Helper()
	cfg := fredis.DefaultConfig()
	cfg.Addr = addr
	cfg.Timeout = 2 * time.Second
	cfg.Prefix = "t" + time.Now().Format("150405.000") + "-" + string(rune('a'+prefixes.Add(1)%26)) + ":"
	s, err := fredis.New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	addr := env.RedisAddr(t)
	featurestest.RunConformance(t, func(t *testing.T, reg *features.Registry) features.OnlineStore {
		return newStore(t, addr, reg)
	})
}

// TestUnavailableFailsFast points the store at a closed port, and at a Redis container
// that is then stopped, and expects the typed error well within a few timeouts.
func TestUnavailableFailsFast(t *testing.T) {
	reg, err := featurestest.Registry()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	// A listener that accepts and never answers: the slow failure mode.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	cases := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"closed port", func(*testing.T) string { return closed }},
		{"server that never answers", func(*testing.T) string { return silent.Addr().String() }},
		{"stopped container", func(t *testing.T) string {
			if ok, why := env.Available(); !ok {
				t.Skip(why)
			}
			c, err := testenv.StartRedis(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			addr := c.Addr()
			s := newStore(t, addr, reg)
			if _, err := s.Write(context.Background(), "profile", []features.Row{featurestest.ProfileRow("u", time.Now(), 1, 1)}); err != nil {
				t.Fatalf("write before stopping: %v", err)
			}
			if err := c.Terminate(context.Background()); err != nil {
				t.Fatal(err)
			}
			return addr
		}},
	}
	const timeout = 150 * time.Millisecond
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fredis.DefaultConfig()
			cfg.Addr, cfg.Timeout = tc.addr(t), timeout
			s, err := fredis.New(cfg, reg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			start := time.Now()
			_, err = s.Read(context.Background(), features.ReadRequest{Views: []features.ViewRequest{{View: "profile", Entities: []string{"u"}}}})
			took := time.Since(start)
			var ue *features.UnavailableError
			if !errors.Is(err, features.ErrUnavailable) || !errors.As(err, &ue) {
				t.Fatalf("Read = %v, want *features.UnavailableError", err)
			}
			if took > 5*timeout {
				t.Errorf("Read took %v, want within 5× the %v timeout", took, timeout)
			}
			_, err = s.Write(context.Background(), "profile", []features.Row{featurestest.ProfileRow("u", time.Now(), 2, 1)})
			if !errors.Is(err, features.ErrUnavailable) {
				t.Errorf("Write = %v, want ErrUnavailable", err)
			}
			t.Logf("%s: %v after %v", tc.name, err, took)
		})
	}
}
