package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/casebook-ml/casebook/platform/cputime"

	"github.com/casebook-ml/casebook/adsranking/internal/server"
)

// BenchmarkHandler is the handler's own work per request, in process and without the
// network: routing, decoding the bid request, the bidder (the no-op floor, or a bid on
// every impression at its floor) and encoding the answer. Over HTTP the server adds the
// connection's reads and writes and the scheduler; see adsranking/scripts/bench-serve.sh.
func BenchmarkHandler(b *testing.B) {
	_, bodies := simBodies(b, 256, 9)
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"noop", server.New(server.NoOp{}, model, nil, nil)}, {"bid-all", server.New(new(floorBidder), model, nil, nil)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var r bytes.Reader
			i := 0
			cpu0 := cputime.Process().Nanoseconds()
			for b.Loop() {
				r.Reset(bodies[i%len(bodies)])
				i++
				rec := httptest.NewRecorder()
				c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/openrtb2/auction", &r))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(cputime.Process().Nanoseconds()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
