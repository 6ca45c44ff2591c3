package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/serving"
)

func scoreBody(tx sim.Transaction) string {
	b, _ := json.Marshal(map[string]any{"transaction_id": tx.ID, "tx_datetime": tx.Time.Format(time.RFC3339Nano),
		"customer_id": tx.Customer, "terminal_id": tx.Terminal, "tx_amount": tx.Amount})
	return string(b)
}

func post(t *testing.T, h http.Handler, method, path, body string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Body.Bytes()
}

// Transactions scored over HTTP, between others published to the log, are decided by the
// same scorer: every decision equals a one-at-a-time scorer's over the same events in the
// same order, whichever way each came in; the HTTP answer is the decision in the log; and
// scoring a transaction id again (one first scored over HTTP, one from the stream) answers
// the same single decision without making another.
func TestScoreOverHTTPAgreesWithStream(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	log := openForgetfulTx(t, 100*time.Millisecond)
	tok, err := pii.NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	raw := f.txs[:900]
	evs, err := events.Replay(events.Tokenize(tok, raw), 3*24*time.Hour) // what producers publish
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]sim.Transaction{}
	for _, tx := range raw {
		byID[events.TxID(tx.ID)] = tx
	}
	cc := eventlog.DefaultConsumerConfig()
	cc.BatchSize = 64
	stats := &Stats{}
	s := f.scorer(t, log, memory.New(f.reg), stats)
	api, err := NewScoreAPI(log, s, tok, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := api.Handler()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx, cc) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	// Events 300-599: transactions over HTTP (raw customer ids, one at a time, each
	// answered before the next event), chargebacks through the log; the rest through the log.
	overHTTP := map[int64]ScoreResponse{}
	if _, err := log.PublishBatch(ctx, evs[:300]); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs[300:600] {
		if ev.Subject != TxSubject {
			if _, err := log.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
			continue
		}
		tx := byID[ev.ID]
		code, body := post(t, h, http.MethodPost, ScorePath, scoreBody(tx))
		var res ScoreResponse
		if err := json.Unmarshal(body, &res); code != http.StatusOK || err != nil {
			t.Fatalf("POST transaction %d = %d %s (%v)", tx.ID, code, body, err)
		}
		if res.Repeat || res.Decision.TransactionID != tx.ID {
			t.Fatalf("POST transaction %d = %+v, want a new decision on it", tx.ID, res)
		}
		overHTTP[tx.ID] = res
	}
	if _, err := log.PublishBatch(ctx, evs[600:]); err != nil {
		t.Fatal(err)
	}
	waitCaught(t, log)

	// Again, later than the transaction stream's duplicates window: one first scored over
	// HTTP and one first published to the log. The same decision comes back, marked repeat.
	time.Sleep(200 * time.Millisecond)
	var again []sim.Transaction
	for _, ev := range evs {
		if tx, ok := byID[ev.ID]; ok && ev.Subject == TxSubject {
			if _, viaHTTP := overHTTP[tx.ID]; viaHTTP && len(again) == 0 || !viaHTTP && len(again) == 1 {
				again = append(again, tx)
			}
		}
	}
	got := decisionsByTx(t, log)
	for _, tx := range again {
		code, body := post(t, h, http.MethodPost, ScorePath, scoreBody(tx))
		var res ScoreResponse
		if err := json.Unmarshal(body, &res); code != http.StatusOK || err != nil {
			t.Fatalf("POST transaction %d again = %d %s (%v)", tx.ID, code, body, err)
		}
		if want := got[tx.ID][0]; !res.Repeat || res.Decision != want {
			t.Errorf("POST transaction %d again = %+v, want repeat of %+v", tx.ID, res, want)
		}
	}
	waitCaught(t, log)

	got = decisionsByTx(t, log)
	ntx := requireOneDecisionEach(t, f, evs, got, "in the log", func(want, logged decision.Decision) {
		if res, ok := overHTTP[want.TransactionID]; ok && res.Decision != logged {
			t.Fatalf("transaction %d: HTTP answered %+v, the log holds %+v", want.TransactionID, res.Decision, logged)
		}
	})
	if len(overHTTP) < 200 || len(got) != ntx {
		t.Errorf("%d scored over HTTP, %d decided of %d", len(overHTTP), len(got), ntx)
	}
	t.Logf("%d of %d transactions scored over HTTP, %d scored again", len(overHTTP), ntx, len(again))
}

// Bad requests get a 4xx and a message saying what is wrong, never a panic or a 5xx, and
// publish nothing.
func TestScoreBadRequests(t *testing.T) {
	f := setup(t)
	log := openForgetful(t)
	tok, err := pii.NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewScoreAPI(log, f.scorer(t, log, memory.New(f.reg), &Stats{}), tok, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := api.Handler()
	ok := `"transaction_id": 1, "tx_datetime": "2018-08-08T10:15:00Z", "customer_id": 2, "terminal_id": 3, "tx_amount": 10.5`
	for _, c := range []struct {
		name, method, path, body string
		code                     int
		says                     string
	}{
		{"empty body", "POST", ScorePath, "", 400, "want a JSON object"},
		{"not JSON", "POST", ScorePath, "transaction 1", 400, "want a JSON object"},
		{"an array", "POST", ScorePath, "[" + "{" + ok + "}]", 400, "want a JSON object"},
		{"unknown field", "POST", ScorePath, "{" + ok + `, "cvv": 123}`, 400, `unknown field "cvv"`},
		{"missing fields", "POST", ScorePath, `{"transaction_id": 1}`, 400, "missing tx_datetime, customer_id, terminal_id, tx_amount"},
		{"id as a string", "POST", ScorePath, strings.Replace("{"+ok+"}", `"transaction_id": 1`, `"transaction_id": "1"`, 1), 400, "transaction_id"},
		{"bad time", "POST", ScorePath, strings.Replace("{"+ok+"}", "2018-08-08T10:15:00Z", "08/08/2018", 1), 400, "want RFC 3339"},
		{"negative id", "POST", ScorePath, strings.Replace("{"+ok+"}", `"transaction_id": 1`, `"transaction_id": -1`, 1), 400, "must not be negative"},
		{"negative terminal", "POST", ScorePath, strings.Replace("{"+ok+"}", `"terminal_id": 3`, `"terminal_id": -3`, 1), 400, "must not be negative"},
		{"negative amount", "POST", ScorePath, strings.Replace("{"+ok+"}", "10.5", "-1", 1), 400, "tx_amount -1"},
		{"huge amount", "POST", ScorePath, strings.Replace("{"+ok+"}", "10.5", "1e300", 1), 400, "tx_amount"},
		{"two objects", "POST", ScorePath, "{" + ok + "}{" + ok + "}", 400, "one JSON object only"},
		{"too large", "POST", ScorePath, "{" + ok + `, "x": "` + strings.Repeat("a", maxScoreBody) + `"}`, 413, "request body too large"},
		{"wrong method", "GET", ScorePath, "", 405, "use POST"},
		{"wrong path", "POST", "/v1/transactions", "{" + ok + "}", 404, "no such path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := post(t, h, c.method, c.path, c.body)
			var e serving.ErrorResponse
			if err := json.Unmarshal(body, &e); code != c.code || err != nil || !strings.Contains(e.Error, c.says) {
				t.Errorf("%s %s %.60q = %d %s, want %d with %q", c.method, c.path, c.body, code, body, c.code, c.says)
			}
		})
	}
	if st, err := log.Stream(context.Background(), TxStream); err != nil || st.Messages != 0 {
		t.Errorf("the bad requests logged %d transactions (%v), want 0", st.Messages, err)
	}
}

// readScoreRequest never panics, and what it accepts is a transaction it can log.
func FuzzReadScoreRequest(f *testing.F) {
	for _, s := range []string{
		`{"transaction_id": 1, "tx_datetime": "2018-08-08T10:15:00Z", "customer_id": 2, "terminal_id": 3, "tx_amount": 10.5}`,
		`{"transaction_id": 1}`, `{}`, `[]`, `null`, `{"tx_amount": -0}`, `{"transaction_id": 9223372036854775808}`,
		`{"transaction_id": 1, "tx_datetime": "2018-08-08T10:15:00.123456789+02:00", "customer_id": 0, "terminal_id": 0, "tx_amount": 0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := readScoreRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if tx.ID < 0 || tx.Customer < 0 || tx.Terminal < 0 || !(tx.Amount >= 0) || tx.Time.IsZero() {
			t.Fatalf("accepted %q as %+v", b, tx)
		}
		if _, err := events.TxEvent(tx); err != nil {
			t.Fatalf("accepted %q, which does not encode: %v", b, err)
		}
	})
}
