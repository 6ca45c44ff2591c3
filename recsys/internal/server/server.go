// Package server is the recommender's HTTP API on gorilla/mux: GET
// /v1/users/{id}/recommendations answered as JSON with a Server-Timing header per stage,
// /healthz, /metrics, and JSON errors (4xx for bad input, never a panic).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/casebook-ml/casebook/recsys/internal/recommend"
)

// Server answers recommendation requests over HTTP. It is safe for concurrent use.
type Server struct {
	rec recommend.Recommender
	cfg Config
	log *slog.Logger
	met *metrics
	// paramList names the accepted query parameters, for the message that refuses others.
	paramList string
	// bufs holds *[]byte for answers and Server-Timing values.
	bufs sync.Pool
	// jsonType is the Content-Type value, shared by every answer (net/http copies header
	// values when it writes them and never changes them, so one slice serves all).
	jsonType []string
}

// New returns a server over rec. logger may be nil (logs are dropped); reg, when not nil,
// receives the server's metrics (see metrics).
func New(rec recommend.Recommender, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if rec == nil {
		return nil, fmt.Errorf("%w: nil Recommender", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	met, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	cfg.ContextParams = append([]string(nil), cfg.ContextParams...)
	s := &Server{
		rec: rec, cfg: cfg, log: logger.With("component", "recsys-server"), met: met,
		paramList: strings.Join(append([]string{paramK, paramDiversity}, cfg.ContextParams...), ", "),
		jsonType:  []string{"application/json"},
	}
	s.bufs.New = func() any { b := make([]byte, 0, 2048); return &b }
	return s, nil
}

// Handler returns the HTTP API:
//
//	GET /v1/users/{id}/recommendations?k=10&diversity=0.2&genre=...
//	GET /healthz
//	GET /metrics   (when Config.Gatherer is set)
//
// A recommendation answer is Response as JSON plus "timings_ms" (retrieve, features, rank,
// rerank as the recommender reports them, and total: the server's time from the handler's
// start to the recommender's return, parsing included, writing the answer not), and the
// same five in a Server-Timing header ("retrieve;dur=0.412, ..., total;dur=1.900", in
// milliseconds).
//
// Every error is a JSON {"error": "..."} body:
//   - 400: an id that is not a non-negative decimal integer; k or diversity that do not
//     parse or are out of range (Request.Validate) or are given twice; a query parameter
//     that is not k, diversity or one of Config.ContextParams (refused rather than
//     ignored, so a typo cannot silently change the answer); the recommender's ErrInvalid.
//   - 404 for an unknown route, 405 for a method other than GET.
//   - 503 when the request's deadline (Config.Timeout) passed or the client went away.
//   - 500 for any other recommender error or a panic (both logged, with the stack for a
//     panic; the message says only "internal error").
//
// k defaults to Config.DefaultK, diversity to 0.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/v1/users/{id}/recommendations", s.recommendations).Methods(http.MethodGet)
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet)
	if s.cfg.Gatherer != nil {
		r.Handle("/metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fail(w, reasonNotFound, "no such endpoint")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, reasonMethodNotAllowed, "method "+r.Method+" not allowed")
	})
	return s.recoverPanics(r)
}

// recommendations is GET /v1/users/{id}/recommendations.
func (s *Server) recommendations(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req, err := s.parseRequest(mux.Vars(r)["id"], r.URL.RawQuery)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		s.fail(w, reasonBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	resp, err := s.recommend(ctx, req)
	ctxErr := ctx.Err()
	cancel()
	total := time.Since(start)
	s.met.total.Observe(total.Seconds())
	if err != nil {
		s.recommendFailed(w, req, err, ctxErr)
		return
	}
	t := &resp.Timings
	s.met.retrieve.Observe(t.Retrieve.Seconds())
	s.met.features.Observe(t.Features.Seconds())
	s.met.rank.Observe(t.Rank.Seconds())
	s.met.rerank.Observe(t.Rerank.Seconds())
	s.met.answered(resp.Path)

	bp := s.bufs.Get().(*[]byte)
	b := appendServerTiming((*bp)[:0], t, total)
	h := w.Header()
	h["Server-Timing"] = []string{string(b)}
	h["Content-Type"] = s.jsonType
	b = appendResponse(b[:0], &resp, total)
	if len(b) > 2048 {
		// net/http computes Content-Length itself only for a body that fits its 2 KiB
		// buffer; a longer one would otherwise go out chunked.
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	*bp = b[:0]
	s.bufs.Put(bp)
}

// recommend calls the recommender, turning a panic into errPanic (logged here, with its
// stack) so one bad request cannot take the process down.
func (s *Server) recommend(ctx context.Context, req recommend.Request) (resp recommend.Response, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("recommender panicked", "user", req.User, "k", req.K, "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", errPanic, v)
		}
	}()
	return s.rec.Recommend(ctx, req)
}

// recommendFailed answers a recommender error: 400 for ErrInvalid, 503 when the request's
// deadline passed or the client went away, 500 otherwise (logged: the recommender is built
// to degrade, not to fail). ctxErr is the request context's error when the call returned.
func (s *Server) recommendFailed(w http.ResponseWriter, req recommend.Request, err, ctxErr error) {
	switch {
	case errors.Is(err, recommend.ErrInvalid):
		s.fail(w, reasonInvalid, err.Error())
	case errors.Is(err, errPanic):
		s.fail(w, reasonPanic, "internal error: the recommender failed")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctxErr, context.DeadlineExceeded):
		s.fail(w, reasonDeadline, "deadline of "+s.cfg.Timeout.String()+" exceeded: "+err.Error())
	case errors.Is(err, context.Canceled) || errors.Is(ctxErr, context.Canceled):
		s.fail(w, reasonCanceled, "request canceled: "+err.Error())
	default:
		s.log.Error("recommender failed", "user", req.User, "k", req.K, "err", err)
		s.fail(w, reasonInternal, "internal error: the recommender failed")
	}
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// fail counts an error answer and writes it as {"error": msg}.
func (s *Server) fail(w http.ResponseWriter, reason, msg string) {
	code := s.met.failed(reason)
	bp := s.bufs.Get().(*[]byte)
	b := appendError((*bp)[:0], msg)
	w.Header()["Content-Type"] = s.jsonType
	w.WriteHeader(code)
	_, _ = w.Write(b)
	*bp = b[:0]
	s.bufs.Put(bp)
}

// recoverPanics answers 500 for a panic in any handler (the recommender's own are caught
// closer, in recommend). http.ErrAbortHandler is net/http's way to abort a response and
// is passed on.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			s.fail(w, reasonPanic, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}
