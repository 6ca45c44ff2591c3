package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/serving"
)

// ScorePath is the synchronous scoring endpoint: a card authorization in, its decision out.
const ScorePath = "/v1/transactions/score"

// ScoreRequest is one transaction to score, as an acquirer would send it: the raw
// customer (card) id, which the endpoint tokenizes before anything else sees it, as every
// producer does (events.Tokenize).
type ScoreRequest struct {
	TransactionID *int64   `json:"transaction_id"`
	Time          string   `json:"tx_datetime"` // RFC 3339, e.g. 2018-08-08T10:15:00Z
	CustomerID    *int64   `json:"customer_id"`
	TerminalID    *int64   `json:"terminal_id"`
	Amount        *float64 `json:"tx_amount"`
}

// ScoreResponse is the transaction's one decision. Repeat is true when the transaction id
// was decided before (an earlier call, or the same id from the stream): the decision is
// that earlier one, read back from the log, and nothing new was decided.
type ScoreResponse struct {
	Decision decision.Decision `json:"decision"`
	Repeat   bool              `json:"repeat"`
}

// ScoreAPI serves ScorePath beside the stream. A transaction scored over HTTP goes through
// the log like any other: the handler publishes it to TxStream (id = its transaction id)
// and waits for the ordered scorer to decide it, so it updates the feature state in log
// order, its decision is the one event in DecisionStream, the stream and HTTP always
// agree, and the same id scored twice (over HTTP or the stream, at any delay within
// events.RetryHorizon) gets the same single decision. The cost is a log round trip on each
// side of the scorer's batch, about a millisecond on the local default.
type ScoreAPI struct {
	log     *eventlog.Log
	scorer  *Scorer
	tok     *pii.Tokenizer
	timeout time.Duration
	logger  *slog.Logger
}

// maxScoreBody bounds a request body: a transaction is about 150 bytes.
const maxScoreBody = 16 << 10

// NewScoreAPI serves s's decisions; tok tokenizes customer ids (the one the producers
// use); timeout bounds the wait for a decision (then 504: the transaction is in the log
// and will be decided, and asking again with the same id returns that decision).
func NewScoreAPI(log *eventlog.Log, s *Scorer, tok *pii.Tokenizer, timeout time.Duration, logger *slog.Logger) (*ScoreAPI, error) {
	if log == nil || s == nil || tok == nil || timeout <= 0 {
		return nil, errors.New("score api: a log, a scorer, a tokenizer and a positive timeout are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ScoreAPI{log: log, scorer: s, tok: tok, timeout: timeout, logger: logger.With("component", "fraud-score-api")}, nil
}

// Register adds the endpoint to r.
func (a *ScoreAPI) Register(r *mux.Router) {
	r.HandleFunc(ScorePath, a.score).Methods(http.MethodPost)
}

// Handler is a router with the endpoint alone.
func (a *ScoreAPI) Handler() http.Handler {
	r := mux.NewRouter()
	a.Register(r)
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, serving.ErrorResponse{Error: "use POST " + ScorePath})
	})
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeJSON(w, http.StatusNotFound, serving.ErrorResponse{Error: fmt.Sprintf("no such path %q: use POST %s", req.URL.Path, ScorePath)})
	})
	return r
}

func (a *ScoreAPI) score(w http.ResponseWriter, r *http.Request) {
	tx, err := readScoreRequest(http.MaxBytesReader(w, r.Body, maxScoreBody))
	if err != nil {
		code := http.StatusBadRequest
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, code, serving.ErrorResponse{Error: err.Error()})
		return
	}
	tx = events.Tokenize(a.tok, []sim.Transaction{tx})[0]
	ev, err := events.TxEvent(tx)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, serving.ErrorResponse{Error: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	res, code, err := a.decide(ctx, ev)
	if err != nil {
		if code >= 500 {
			a.logger.Warn("no decision", "transaction", ev.ID, "status", code, "err", err)
		}
		writeJSON(w, code, serving.ErrorResponse{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// decide publishes ev and waits for its one decision.
func (a *ScoreAPI) decide(ctx context.Context, ev eventlog.Event) (ScoreResponse, int, error) {
	ch := a.scorer.await.add(ev.ID) // before publishing: no decision can slip past
	defer a.scorer.await.remove(ev.ID, ch)
	ack, err := a.log.Publish(ctx, ev)
	if err != nil {
		return ScoreResponse{}, http.StatusServiceUnavailable, fmt.Errorf("transaction %s not logged: %w", ev.ID, err)
	}
	if ack.Duplicate {
		// The log had this id inside its duplicates window: decided already, or about to be.
		if d, found, err := findDecision(ctx, a.log, ev.ID); err == nil && found {
			return ScoreResponse{Decision: d, Repeat: true}, 0, nil
		}
	}
	select {
	case got := <-ch:
		if got.ok {
			return ScoreResponse{Decision: got.d}, 0, nil
		}
		d, found, err := findDecision(ctx, a.log, ev.ID)
		switch {
		case err != nil:
			return ScoreResponse{}, http.StatusServiceUnavailable, fmt.Errorf("transaction %s was decided before; reading that decision: %w", ev.ID, err)
		case !found:
			return ScoreResponse{}, http.StatusServiceUnavailable, fmt.Errorf("transaction %s was decided before (log position %d) but its decision is not in %s", ev.ID, got.seq, DecisionStream)
		}
		return ScoreResponse{Decision: d, Repeat: true}, 0, nil
	case <-ctx.Done():
		return ScoreResponse{}, http.StatusGatewayTimeout, fmt.Errorf("no decision on transaction %s within %v: it is in the log and will be decided once; ask again with the same transaction_id for that decision", ev.ID, a.timeout)
	}
}

// readScoreRequest decodes and checks one request body.
func readScoreRequest(body io.Reader) (sim.Transaction, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return sim.Transaction{}, fmt.Errorf("read body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var req ScoreRequest
	if err := dec.Decode(&req); err != nil {
		return sim.Transaction{}, fmt.Errorf("body: want a JSON object {transaction_id, tx_datetime, customer_id, terminal_id, tx_amount}: %w", err)
	}
	if dec.More() {
		return sim.Transaction{}, errors.New("body: one JSON object only")
	}
	var missing []string
	for _, f := range []struct {
		name string
		nil  bool
	}{{"transaction_id", req.TransactionID == nil}, {"tx_datetime", req.Time == ""}, {"customer_id", req.CustomerID == nil},
		{"terminal_id", req.TerminalID == nil}, {"tx_amount", req.Amount == nil}} {
		if f.nil {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return sim.Transaction{}, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	t, err := time.Parse(time.RFC3339Nano, req.Time)
	if err != nil {
		return sim.Transaction{}, fmt.Errorf("tx_datetime %q: want RFC 3339, e.g. 2018-08-08T10:15:00Z", req.Time)
	}
	switch {
	case *req.TransactionID < 0:
		return sim.Transaction{}, fmt.Errorf("transaction_id %d: must not be negative", *req.TransactionID)
	case *req.CustomerID < 0:
		return sim.Transaction{}, fmt.Errorf("customer_id %d: must not be negative", *req.CustomerID)
	case *req.TerminalID < 0:
		return sim.Transaction{}, fmt.Errorf("terminal_id %d: must not be negative", *req.TerminalID)
	case !(*req.Amount >= 0) || *req.Amount > 1e9:
		return sim.Transaction{}, fmt.Errorf("tx_amount %v: want 0 to 1e9", *req.Amount)
	}
	return sim.Transaction{ID: *req.TransactionID, Time: t.UTC(), Customer: int(*req.CustomerID), Terminal: int(*req.TerminalID), Amount: *req.Amount}, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
