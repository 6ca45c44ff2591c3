package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/adsranking/internal/bidder"
	"github.com/casebook-ml/casebook/adsranking/internal/server"
	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/adsranking/sim"
)

const auctionPath = "/openrtb2/auction"

// floorBidder bids on every impression at its floor plus a cent, one seat per request,
// and remembers what it was given. It stands in for *bidder.Bidder, whose construction
// needs a trained model.
type floorBidder struct {
	calls atomic.Int64
	mu    sync.Mutex
	last  *openrtb.BidRequest
	ctx   context.Context
	when  time.Time
}

var _ server.Bidder = (*floorBidder)(nil)

func (b *floorBidder) Bid(ctx context.Context, req *openrtb.BidRequest, arrived time.Time) (openrtb.BidResponse, bidder.Outcome) {
	b.calls.Add(1)
	b.mu.Lock()
	b.last, b.ctx, b.when = req, ctx, arrived
	b.mu.Unlock()
	return bidAll(req), bidder.Outcome{Bid: true, Stages: [4]time.Duration{time.Millisecond, 2 * time.Millisecond, 1500 * time.Microsecond, 0}}
}

func bidAll(req *openrtb.BidRequest) openrtb.BidResponse {
	seat := openrtb.SeatBid{Seat: "adv-1"}
	for i, imp := range req.Imp {
		seat.Bid = append(seat.Bid, openrtb.Bid{ID: fmt.Sprintf("b%d", i), ImpID: imp.ID, Price: imp.BidFloor + 0.01, AdID: "7", CrID: "7"})
	}
	return openrtb.BidResponse{ID: req.ID, Cur: openrtb.Currency, SeatBid: []openrtb.SeatBid{seat}}
}

// funcBidder answers with whatever its function says.
type funcBidder func(*openrtb.BidRequest) openrtb.BidResponse

func (f funcBidder) Bid(_ context.Context, req *openrtb.BidRequest, _ time.Time) (openrtb.BidResponse, bidder.Outcome) {
	return f(req), bidder.Outcome{}
}

func model() string { return "ctr-fm/v3" }

// world is the small simulated world requests are drawn from, built once.
var world = sync.OnceValues(func() (*sim.World, error) { return sim.New(sim.SmallConfig()) })

// simBodies returns n valid bid requests from the simulator and their encoded bodies.
func simBodies(t testing.TB, n int, seed uint64) ([]*openrtb.BidRequest, [][]byte) {
	t.Helper()
	w, err := world()
	if err != nil {
		t.Fatal(err)
	}
	var reqs []*openrtb.BidRequest
	var bodies [][]byte
	for _, r := range w.Requests(n, seed) {
		req := w.BidRequest(r)
		body, err := openrtb.Marshal(req)
		if err != nil {
			t.Fatalf("Marshal(BidRequest(%+v)) = %v", r, err)
		}
		reqs, bodies = append(reqs, req), append(bodies, body)
	}
	return reqs, bodies
}

func do(h http.Handler, method, path string, body io.Reader) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, body))
	return rec
}

func TestAuctionBids(t *testing.T) {
	b := new(floorBidder)
	h := server.New(b, model, nil, nil)
	reqs, bodies := simBodies(t, 200, 3)
	for i, body := range bodies {
		before := time.Now()
		rec := do(h, http.MethodPost, auctionPath, bytes.NewReader(body))
		if rec.Code != http.StatusOK {
			t.Fatalf("POST %s (request %s) = %d %s, want 200", auctionPath, reqs[i].ID, rec.Code, rec.Body)
		}
		for k, want := range map[string]string{"Content-Type": "application/json", "X-Openrtb-Version": "2.6",
			"Server-Timing": "features;dur=1.000, candidates;dur=2.000, scoring;dur=1.500, auction;dur=0.000"} {
			if got := rec.Header().Get(k); got != want {
				t.Fatalf("POST %s: header %s = %q, want %q", auctionPath, k, got, want)
			}
		}
		resp, err := openrtb.DecodeResponse(rec.Body, 0)
		if err != nil {
			t.Fatalf("DecodeResponse(answer to %s) = %v", reqs[i].ID, err)
		}
		if err := resp.CheckAgainst(reqs[i]); err != nil {
			t.Fatalf("answer to %s: CheckAgainst = %v", reqs[i].ID, err)
		}
		if _, nbr := resp.Reason(); nbr || resp.Bids() != len(reqs[i].Imp) {
			t.Fatalf("answer to %s: %d bids (no-bid %v), want one per impression (%d)", reqs[i].ID, resp.Bids(), nbr, len(reqs[i].Imp))
		}
		// The bidder got the request as the simulator built it, on the request's context,
		// with the time it arrived.
		b.mu.Lock()
		last, ctx, when := b.last, b.ctx, b.when
		b.mu.Unlock()
		if !reflect.DeepEqual(last, reqs[i]) {
			t.Fatalf("bidder got %+v, want %+v", last, reqs[i])
		}
		if ctx == nil || when.Before(before) || when.After(time.Now()) {
			t.Fatalf("bidder got context %v and arrival %v, want the request's context and a time during the call", ctx, when)
		}
	}
	if got := b.calls.Load(); got != int64(len(bodies)) {
		t.Errorf("bidder called %d times for %d requests", got, len(bodies))
	}
}

// TestAuctionNoBid checks the no-bid form: the server answers 200 with a bid response that
// carries the reason in nbr (never 204 with an empty body).
func TestAuctionNoBid(t *testing.T) {
	reqs, bodies := simBodies(t, 20, 4)
	tests := []struct {
		name string
		b    server.Bidder
		want openrtb.NoBidReason
	}{
		{"noop", server.NoOp{}, openrtb.NoBidNoCandidates},
		{"paced out", funcBidder(func(r *openrtb.BidRequest) openrtb.BidResponse { return openrtb.NoBid(r.ID, openrtb.NoBidPacedOut) }), openrtb.NoBidPacedOut},
		// The Bidder interface has no error return: a bidder that fails says so with a
		// no-bid reason (openrtb.ReasonFor), which the server passes on like any other.
		{"bidder error", funcBidder(func(r *openrtb.BidRequest) openrtb.BidResponse {
			return openrtb.NoBid(r.ID, openrtb.ReasonFor(fmt.Errorf("feature store: %w", io.ErrUnexpectedEOF)))
		}), openrtb.NoBidTechnicalError},
		{"deadline", funcBidder(func(r *openrtb.BidRequest) openrtb.BidResponse {
			return openrtb.NoBid(r.ID, openrtb.ReasonFor(context.DeadlineExceeded))
		}), openrtb.NoBidDeadlineExceeded},
		{"unknown error (code 0 is still sent)", funcBidder(func(r *openrtb.BidRequest) openrtb.BidResponse { return openrtb.NoBid(r.ID, 0) }), openrtb.NoBidUnknownError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := server.New(tt.b, model, nil, nil)
			for i, body := range bodies {
				rec := do(h, http.MethodPost, auctionPath, bytes.NewReader(body))
				if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
					t.Fatalf("POST %s = %d (%s), want 200 application/json", auctionPath, rec.Code, rec.Header().Get("Content-Type"))
				}
				raw := rec.Body.String()
				resp, err := openrtb.DecodeResponse(strings.NewReader(raw), 0)
				if err != nil {
					t.Fatalf("DecodeResponse(%s) = %v", raw, err)
				}
				if err := resp.CheckAgainst(reqs[i]); err != nil {
					t.Fatalf("CheckAgainst(%s) = %v", raw, err)
				}
				if r, ok := resp.Reason(); !ok || r != tt.want || resp.Bids() != 0 {
					t.Fatalf("answer %s: reason %v (%v), %d bids; want no bid with reason %d (%v)", raw, int(r), ok, resp.Bids(), int(tt.want), tt.want)
				}
				if want := fmt.Sprintf(`"nbr":%d`, int(tt.want)); !strings.Contains(raw, want) {
					t.Fatalf("answer %s does not carry %s", raw, want)
				}
			}
		})
	}
}

// errorBody decodes the server's error answer: JSON {"error": "..."}.
func errorBody(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error answer has Content-Type %q, want application/json", ct)
	}
	var e struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("error answer %q: want JSON {\"error\": message} (%v)", rec.Body, err)
	}
	return e.Error
}

func TestClientErrors(t *testing.T) {
	const imp = `{"id":"1","banner":{"w":300,"h":250}}`
	valid := `{"id":"r1","site":{"id":"s1"},"imp":[` + imp + `]}`
	// A valid request padded with spaces to exactly MaxBody bytes is accepted; one more
	// byte is refused.
	exact := valid + strings.Repeat(" ", server.MaxBody-len(valid))
	tests := []struct {
		name         string
		method, path string
		body         io.Reader
		status       int
		msg          string // a substring of the error message
	}{
		{"malformed JSON", http.MethodPost, auctionPath, strings.NewReader(`{"id":"r1","imp":[`), 400, "malformed JSON"},
		{"syntax error", http.MethodPost, auctionPath, strings.NewReader(`{"id":"r1",,}`), 400, "line 1, column 12"},
		{"trailing garbage", http.MethodPost, auctionPath, strings.NewReader(valid + `{}`), 400, "malformed JSON"},
		{"empty body", http.MethodPost, auctionPath, strings.NewReader(""), 400, "empty body"},
		{"no body", http.MethodPost, auctionPath, nil, 400, "empty body"},
		{"whitespace body", http.MethodPost, auctionPath, strings.NewReader(" \n\t"), 400, "empty body"},
		{"not an object", http.MethodPost, auctionPath, strings.NewReader(`[1,2]`), 400, "(top level)"},
		{"null", http.MethodPost, auctionPath, strings.NewReader(`null`), 400, "id: empty"},
		{"imp missing", http.MethodPost, auctionPath, strings.NewReader(`{"id":"r1","site":{"id":"s1"}}`), 400, "imp: 0 impressions"},
		{"tmax negative", http.MethodPost, auctionPath, strings.NewReader(`{"id":"r1","site":{"id":"s1"},"tmax":-1,"imp":[` + imp + `]}`), 400, "tmax: -1"},
		{"id a number", http.MethodPost, auctionPath, strings.NewReader(`{"id":1,"site":{"id":"s1"},"imp":[` + imp + `]}`), 400, "id: got JSON number, want string"},
		{"negative floor", http.MethodPost, auctionPath, strings.NewReader(`{"id":"r1","site":{"id":"s1"},"imp":[{"id":"1","banner":{"w":1,"h":1},"bidfloor":-1}]}`), 400, "imp[0].bidfloor"},
		{"video only", http.MethodPost, auctionPath, strings.NewReader(`{"id":"r1","site":{"id":"s1"},"imp":[{"id":"1","video":{}}]}`), 400, "banner impressions only"},
		{"read error", http.MethodPost, auctionPath, iotest.ErrReader(io.ErrUnexpectedEOF), 400, "reading body"},
		{"one byte over MaxBody", http.MethodPost, auctionPath, strings.NewReader(exact + " "), 413, "body too large"},
		{"oversized id", http.MethodPost, auctionPath, strings.NewReader(`{"id":"` + strings.Repeat("x", server.MaxBody) + `"}`), 413, "body too large"},
		{"GET auction", http.MethodGet, auctionPath, nil, 405, "GET not allowed on /openrtb2/auction"},
		{"PUT auction", http.MethodPut, auctionPath, strings.NewReader(valid), 405, "PUT not allowed"},
		{"POST healthz", http.MethodPost, "/healthz", strings.NewReader(valid), 405, "POST not allowed on /healthz"},
		{"unknown path", http.MethodPost, "/openrtb2/bid", strings.NewReader(valid), 404, "no such endpoint: /openrtb2/bid"},
		{"trailing slash", http.MethodPost, auctionPath + "/", strings.NewReader(valid), 404, "no such endpoint"},
		{"root", http.MethodGet, "/", nil, 404, "no such endpoint: /"},
		{"metrics without a gatherer", http.MethodGet, "/metrics", nil, 404, "no such endpoint: /metrics"},
	}
	b := new(floorBidder)
	h := server.New(b, model, nil, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := b.calls.Load()
			rec := do(h, tt.method, tt.path, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, rec.Code, rec.Body, tt.status)
			}
			if msg := errorBody(t, rec); !strings.Contains(msg, tt.msg) {
				t.Errorf("%s %s: error %q, want it to mention %q", tt.method, tt.path, msg, tt.msg)
			}
			if b.calls.Load() != calls {
				t.Errorf("%s %s reached the bidder", tt.method, tt.path)
			}
			if tt.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") == "" {
				t.Errorf("%s %s: 405 without an Allow header", tt.method, tt.path)
			}
		})
	}
	if rec := do(h, http.MethodPost, auctionPath, strings.NewReader(exact)); rec.Code != http.StatusOK {
		t.Errorf("POST of a valid body of exactly MaxBody (%d) bytes = %d %s, want 200", server.MaxBody, rec.Code, rec.Body)
	}
}

// countingReader counts the bytes read from an endless body.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	c.n += len(p)
	return len(p), nil
}

// TestOversizedBodyNotRead checks that a client streaming an endless body costs the
// server at most MaxBody+1 bytes of reading before it is refused.
func TestOversizedBodyNotRead(t *testing.T) {
	h := server.New(server.NoOp{}, model, nil, nil)
	body := new(countingReader)
	rec := do(h, http.MethodPost, auctionPath, io.MultiReader(strings.NewReader("{"), body))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST of an endless body = %d %s, want 413", rec.Code, rec.Body)
	}
	if read := 1 + body.n; read > server.MaxBody+1 {
		t.Errorf("server read %d bytes of an endless body, want at most MaxBody+1 = %d", read, server.MaxBody+1)
	}
}

// TestBidderBadResponse checks the one 5xx the handler gives itself: a bidder response that
// cannot be encoded (a NaN price) is the server's fault, 500 with a message.
func TestBidderBadResponse(t *testing.T) {
	h := server.New(funcBidder(func(r *openrtb.BidRequest) openrtb.BidResponse {
		resp := bidAll(r)
		resp.SeatBid[0].Bid[0].Price = math.NaN()
		return resp
	}), model, nil, nil)
	_, bodies := simBodies(t, 1, 5)
	rec := do(h, http.MethodPost, auctionPath, bytes.NewReader(bodies[0]))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("POST with a bidder answering a NaN price = %d %s, want 500", rec.Code, rec.Body)
	}
	if msg := errorBody(t, rec); !strings.Contains(msg, "could not encode the response") {
		t.Errorf("error %q, want it to say the response could not be encoded", msg)
	}
}

// TestBidderPanic: a bidder that panics gets its request a 500 with a message and a log
// line, and the server goes on serving.
func TestBidderPanic(t *testing.T) {
	var panicking atomic.Bool
	var logged bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), nil))
	h := server.New(funcBidder(func(r *openrtb.BidRequest) openrtb.BidResponse {
		if panicking.Load() {
			panic("bidder bug")
		}
		return bidAll(r)
	}), model, nil, logger)

	_, bodies := simBodies(t, 1, 6)
	panicking.Store(true)
	rec := do(h, http.MethodPost, auctionPath, bytes.NewReader(bodies[0]))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "internal error") {
		t.Fatalf("POST with a panicking bidder = %d %s, want 500 with a message", rec.Code, rec.Body)
	}
	mu.Lock()
	if !strings.Contains(logged.String(), "bidder bug") {
		t.Errorf("logged %q, want the panic", logged.String())
	}
	mu.Unlock()

	panicking.Store(false)
	if rec := do(h, http.MethodPost, auctionPath, bytes.NewReader(bodies[0])); rec.Code != http.StatusOK {
		t.Fatalf("POST after a panic = %d %s, want 200", rec.Code, rec.Body)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestHealthz(t *testing.T) {
	version := "ctr-fm/v1"
	h := server.New(server.NoOp{}, func() string { return version }, nil, nil)
	for _, want := range []string{"ctr-fm/v1", "ctr-fm/v2"} {
		version = want // /healthz reads the live model on every call
		rec := do(h, http.MethodGet, "/healthz", nil)
		var got map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("GET /healthz = %d %s (%v), want 200 and JSON", rec.Code, rec.Body, err)
		}
		if got["status"] != "ok" || got["model"] != want || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET /healthz = %v (%s), want status ok and model %q", got, rec.Header().Get("Content-Type"), want)
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "adsranking_test_total", Help: "A counter for the test."})
	reg.MustRegister(c)
	c.Add(3)
	h := server.New(server.NoOp{}, model, reg, nil)
	rec := do(h, http.MethodGet, "/metrics", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "adsranking_test_total 3") {
		t.Fatalf("GET /metrics = %d %s, want 200 with the registry's counter", rec.Code, rec.Body)
	}
	if rec := do(h, http.MethodPost, "/metrics", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %d, want 405", rec.Code)
	}
}

// TestConcurrent checks that answers do not cross between concurrent requests (the
// handler reuses encode buffers).
func TestConcurrent(t *testing.T) {
	h := server.New(new(floorBidder), model, nil, nil)
	reqs, bodies := simBodies(t, 400, 7)
	var wg sync.WaitGroup
	errs := make(chan error, len(bodies))
	for i := range bodies {
		wg.Go(func() {
			rec := do(h, http.MethodPost, auctionPath, bytes.NewReader(bodies[i]))
			resp, err := openrtb.DecodeResponse(rec.Body, 0)
			if err == nil {
				err = resp.CheckAgainst(reqs[i])
			}
			if rec.Code != http.StatusOK || err != nil {
				errs <- fmt.Errorf("request %s: %d, %v", reqs[i].ID, rec.Code, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// FuzzAuctionHandler feeds arbitrary bodies through the handler, with a bidder that bids on
// everything: the answer is never a 5xx and never a panic; a 200 is a valid response to
// the request the body decodes to, and anything else a 400 or 413 with a message.
func FuzzAuctionHandler(f *testing.F) {
	_, bodies := simBodies(f, 3, 1)
	for _, b := range bodies {
		f.Add(b)
	}
	const imp = `{"id":"1","banner":{"w":300,"h":250}}`
	for _, s := range []string{
		`{"id":"r1","app":{"bundle":"b"},"imp":[` + imp + `],"tmax":80,"at":1,"cur":["USD"]}`,
		`{"id":"r1","site":{},"imp":[{"id":"1","banner":{"format":[{"w":1,"h":2}]},"bidfloor":1e300}]}`,
		``, `{`, `null`, `[]`, `"x"`, `{"id":"r1","imp":[]}`,
		`{"id":"r1","site":{"id":"s1"},"tmax":-1,"imp":[` + imp + `]}`,
		`{"id":"r1","site":{"id":"s1"},"imp":[` + imp + `,` + imp + `]}`,
		`{"id":"r1","site":{"id":"s1"},"imp":[{"id":"1","banner":{"w":1.5,"h":1}}]}`,
	} {
		f.Add([]byte(s))
	}
	// No oversized seed: TestClientErrors covers 413, and a 64 KiB input in the corpus
	// makes minimizing its descendants outlast a short -fuzztime.
	h := server.New(funcBidder(bidAll), model, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := do(h, http.MethodPost, auctionPath, bytes.NewReader(body))
		switch rec.Code {
		case http.StatusOK:
			req, err := openrtb.DecodeBytes(body)
			if err != nil {
				t.Fatalf("POST %q = 200, but DecodeBytes refuses it: %v", body, err)
			}
			resp, err := openrtb.DecodeResponse(rec.Body, 0)
			if err != nil {
				t.Fatalf("POST %q = 200 with an invalid response: %v", body, err)
			}
			if err := resp.CheckAgainst(req); err != nil {
				t.Fatalf("POST %q: response does not answer the request: %v", body, err)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			var e struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("POST %q = %d with body %q, want JSON {\"error\": message}", body, rec.Code, rec.Body)
			}
		default:
			t.Fatalf("POST %q = %d %s, want 200, 400 or 413", body, rec.Code, rec.Body)
		}
	})
}
