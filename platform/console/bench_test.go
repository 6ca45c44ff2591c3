package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/console/consoletest"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/serving"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// BenchmarkPages times each page's server time (the handler, no network) over a
// filesystem registry of 100 models × 10 versions (1,000 versions, about 1,100 audit
// entries) and an embedded event log with 20,000 logged predictions of one model. It
// reports the p50 and p99 of the page times beside ns/op.
//
//	go test ./platform/console/ -run '^$' -bench Pages -benchtime 20x
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	reg, err := servingtest.OpenRegistry(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	if _, err := consoletest.Seed(ctx, reg, l, consoletest.Options{Prefix: "m", Models: 100, Versions: 10, Predictions: 20000}); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 100 models × 10 versions and 20,000 predictions in %s", time.Since(start).Round(time.Millisecond))
	cfg := DefaultConfig()
	cfg.Registry, cfg.Log, cfg.ReportsDir = reg, l, b.TempDir()
	cfg.Keys = []serving.APIKey{{Key: readKey, Tenant: "bench"}}
	con, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	h := con.Handler()
	for _, p := range []struct{ name, path string }{
		{"models", "/models"},
		{"models-page-4", "/models?page=4"},
		{"model", "/models/m-050"},
		{"card", "/models/m-050/versions/5"},
		{"card-explained", "/models/m-000/versions/1"},
		{"audit", "/audit"},
		{"monitoring", "/monitoring?model=m-000"},
		{"serving", "/serving"},
		{"scenarios", "/scenarios"},
		{"loadreports", "/loadreports"},
	} {
		b.Run(p.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				req := httptest.NewRequest("GET", p.path, nil)
				req.Header.Set("X-API-Key", readKey)
				w := httptest.NewRecorder()
				t0 := time.Now()
				h.ServeHTTP(w, req)
				took = append(took, time.Since(t0))
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s = %d", p.path, w.Code)
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[(len(took)*99)/100].Microseconds())/1000, "p99-ms")
		})
	}
}
