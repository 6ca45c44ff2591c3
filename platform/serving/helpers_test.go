package serving

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

const features = 8

// fixture is a server over a fresh registry holding "fraud" v1 (logistic regression,
// champion) and v2 (boosted trees, no alias yet).
type fixture struct {
	reg    *registry.Registry
	srv    *Server
	ts     *httptest.Server
	data   mltest.Generated
	m1, m2 ml.Model
	prom   *prometheus.Registry
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	modelsOnce sync.Once
	sharedData mltest.Generated
	sharedM1   ml.Model
	sharedM2   ml.Model
)

func trainedModels(t testing.TB) (mltest.Generated, ml.Model, ml.Model) {
	modelsOnce.Do(func() {
		ctx := context.Background()
		sharedData = servingtest.Data(6000, features, 1)
		var err error
		if sharedM1, err = servingtest.LogReg(ctx, sharedData.Dataset); err != nil {
			panic(err)
		}
		if sharedM2, err = servingtest.GBDT(ctx, sharedData.Dataset, 30, 4); err != nil {
			panic(err)
		}
	})
	return sharedData, sharedM1, sharedM2
}

func fraudConfig() ModelConfig {
	mc := DefaultModelConfig("fraud")
	mc.Fallbacks = []Fallback{Heuristic{Weights: map[string]float64{"f02": 1.5, "f03": -1}, Bias: -2}, Default{Value: 0.1}}
	return mc
}

func newFixture(t testing.TB, mutate func(*Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	data, m1, m2 := trainedModels(t)
	reg, err := servingtest.OpenRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := servingtest.Register(ctx, reg, "fraud", m1, registry.Champion); err != nil {
		t.Fatal(err)
	}
	if _, err := servingtest.Register(ctx, reg, "fraud", m2, ""); err != nil {
		t.Fatal(err)
	}
	f := &fixture{reg: reg, data: data, m1: m1, m2: m2, prom: prometheus.NewRegistry(), logs: &syncBuffer{}}
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Registerer, cfg.Gatherer = f.prom, f.prom
	cfg.Models = []ModelConfig{fraudConfig()}
	if mutate != nil {
		mutate(&cfg)
	}
	f.srv, err = New(ctx, reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(func() {
		f.ts.Close()
		f.srv.Close()
	})
	return f
}

// row returns rows i..i+n of the test data as one flat slice.
func (f *fixture) rows(i, n int) []float64 { return f.data.X[i*features : (i+n)*features] }

func (f *fixture) post(t testing.TB, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (f *fixture) get(t testing.TB, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
