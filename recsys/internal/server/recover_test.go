package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/casebook-ml/casebook/recsys/internal/recommend"
)

type nopRecommender struct{}

func (nopRecommender) Recommend(_ context.Context, req recommend.Request) (recommend.Response, error) {
	return recommend.Response{User: req.User}, nil
}

// TestRecoverPanics: a panic in a handler other than the recommender's call answers 500
// with a JSON message, is logged with its stack and counted; http.ErrAbortHandler passes
// through to net/http.
func TestRecoverPanics(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(nopRecommender{}, DefaultConfig(), slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(errors.New("encoder bug")) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/users/1/recommendations", nil))
	if rec.Code != http.StatusInternalServerError || strings.TrimSpace(rec.Body.String()) != `{"error":"internal error"}` {
		t.Errorf("panicking handler = %d %s, want 500 {\"error\":\"internal error\"}", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "encoder bug") || !strings.Contains(logs.String(), "stack=") {
		t.Errorf("logs lack the panic and its stack:\n%s", logs.String())
	}
	var m dto.Metric
	if err := s.met.errors.WithLabelValues(reasonPanic).Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetCounter().GetValue(); n != 1 {
		t.Errorf("recsys_request_errors_total{reason=panic} = %v, want 1", n)
	}

	abort := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler passed on", v)
		}
	}()
	abort.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}
