// Package server is the bidder's HTTP face on gorilla/mux: POST /openrtb2/auction takes an
// OpenRTB bid request and answers a bid response or a no-bid carrying its reason; malformed
// or oversized requests get a 4xx with a message. /metrics serves Prometheus, /healthz says
// which click model is live.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/casebook-ml/casebook/adsranking/internal/bidder"
	"github.com/casebook-ml/casebook/adsranking/openrtb"
)

// MaxBody is the largest request body accepted (a bid request is a few kilobytes).
const MaxBody = 64 << 10

// Bidder answers bid requests; *bidder.Bidder is one, and NoOp is the floor.
type Bidder interface {
	Bid(ctx context.Context, req *openrtb.BidRequest, arrived time.Time) (openrtb.BidResponse, bidder.Outcome)
}

// Server is the HTTP handler.
type Server struct {
	router *mux.Router
	b      Bidder
	log    *slog.Logger
	model  func() string
	bufs   sync.Pool
}

// allowed is the Allow header of a 405, per path.
var allowed = map[string]string{"/openrtb2/auction": http.MethodPost, "/healthz": http.MethodGet, "/metrics": http.MethodGet}

// New routes requests to b. model names the live click model for /healthz.
func New(b Bidder, model func() string, gatherer prometheus.Gatherer, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{router: mux.NewRouter(), b: b, log: logger.With("component", "ads-server"), model: model}
	s.router.HandleFunc("/openrtb2/auction", s.auction).Methods(http.MethodPost)
	s.router.HandleFunc("/healthz", s.health).Methods(http.MethodGet)
	if gatherer != nil {
		s.router.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	}
	s.router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowed[r.URL.Path])
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s not allowed on %s", r.Method, r.URL.Path))
	})
	s.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (POST /openrtb2/auction)")
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

func (s *Server) auction(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	req, err := openrtb.Decode(r.Body, MaxBody)
	if err != nil {
		writeError(w, openrtb.StatusFor(err), err.Error())
		return
	}
	resp, out, ok := s.bid(r.Context(), req, arrived)
	if !ok {
		writeError(w, http.StatusInternalServerError, "internal error while bidding on request "+strconv.Quote(req.ID)+" (logged)")
		return
	}
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer s.bufs.Put(bp)
	buf, err := openrtb.AppendResponse((*bp)[:0], &resp)
	*bp = buf
	if err != nil {
		s.log.Error("encode response", "request", req.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "could not encode the response")
		return
	}
	// Canonical keys and shared values: net/http only reads them.
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Server-Timing"] = []string{serverTiming(out)}
	h["X-Openrtb-Version"] = openrtbVersion
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

var (
	contentTypeJSON = []string{"application/json"}
	openrtbVersion  = []string{"2.6"}
)

func serverTiming(o bidder.Outcome) string {
	b := make([]byte, 0, 96)
	for i, d := range o.Stages {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, bidder.StageNames[i]...)
		b = append(b, ";dur="...)
		b = strconv.AppendFloat(b, float64(d)/1e6, 'f', 3, 64)
	}
	return string(b)
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "model": s.model()})
}

// bid calls the bidder and turns a panic into ok = false with a log line: a bug in one
// request's path answers that request with a 500 and leaves the server serving.
func (s *Server) bid(ctx context.Context, req *openrtb.BidRequest, arrived time.Time) (resp openrtb.BidResponse, out bidder.Outcome, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("bidder panicked", "request", req.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	resp, out = s.b.Bid(ctx, req, arrived)
	return resp, out, true
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// NoOp answers every valid request with a no-bid at once: the same decode, routing and
// encoding as the bidder, with nothing in between, so its latency is the floor a real
// bidder's is read against.
type NoOp struct{}

// Bid implements Bidder.
func (NoOp) Bid(_ context.Context, req *openrtb.BidRequest, arrived time.Time) (openrtb.BidResponse, bidder.Outcome) {
	return openrtb.NoBid(req.ID, openrtb.NoBidNoCandidates), bidder.Outcome{NoBid: openrtb.NoBidNoCandidates, Total: time.Since(arrived)}
}
