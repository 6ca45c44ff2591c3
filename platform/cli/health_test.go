package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthCommand(t *testing.T) {
	healthy := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !healthy {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ctx := context.Background()
	var out bytes.Buffer
	if err := HealthCommand(ctx, "x", srv.URL+"/healthz", nil, &out); err != nil || out.String() != "ok\n" {
		t.Fatalf("healthcheck on a healthy server = %v (printed %q), want nil and ok", err, out.String())
	}
	healthy = false
	if err := HealthCommand(ctx, "x", srv.URL+"/healthz", nil, &out); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("healthcheck on a 503 = %v, want ErrUnhealthy", err)
	}
	if err := HealthCommand(ctx, "x", "http://127.0.0.1:1/healthz", []string{"--url", srv.URL + "/other"}, &out); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("healthcheck --url on a 503 path = %v, want ErrUnhealthy", err)
	}
	srv.Close()
	if err := HealthCommand(ctx, "x", srv.URL+"/healthz", nil, &out); err == nil || errors.Is(err, ErrUsage) {
		t.Fatalf("healthcheck with nothing listening = %v, want a connection error", err)
	}
	for _, args := range [][]string{{"--url", "ftp://x/y"}, {"--url", "/healthz"}, {"--timeout", "0s"}, {"extra"}} {
		if err := HealthCommand(ctx, "x", "http://127.0.0.1:1/", args, &out); !errors.Is(err, ErrUsage) {
			t.Errorf("healthcheck %v = %v, want a usage error", args, err)
		}
	}
}
