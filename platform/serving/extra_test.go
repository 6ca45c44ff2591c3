package serving

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// fakeLog records what the prediction log publishes.
type fakeLog struct {
	mu  sync.Mutex
	evs []eventlog.Event
}

func (f *fakeLog) PublishBatch(_ context.Context, evs []eventlog.Event) ([]eventlog.Ack, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evs = append(f.evs, evs...)
	return make([]eventlog.Ack, len(evs)), nil
}

// records decodes every published message, as monitoring reads them (predlog); a message
// that does not decode adds nothing.
func (f *fakeLog) records() []predlog.Prediction {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]predlog.Prediction, 0, len(f.evs))
	for _, e := range f.evs {
		rs, err := predlog.DecodePredictions(&eventlog.Message{Event: e})
		if err == nil {
			out = append(out, rs...)
		}
	}
	return out
}

func (f *fakeLog) events() []eventlog.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.evs)
}

// TestPredictionLogAndPathMetrics: answers are logged asynchronously with their path and
// version, and counted per model, version and path.
func TestPredictionLogAndPathMetrics(t *testing.T) {
	fl := &fakeLog{}
	f := newFixture(t, func(c *Config) { c.PredictionLog = fl })
	const rows = 3
	body := servingtest.Body(f.rows(0, rows), features)
	for range 4 {
		if resp, b := f.post(t, "/v2/models/fraud/infer", body, nil); resp.StatusCode != 200 {
			t.Fatalf("status %d (%s)", resp.StatusCode, b)
		}
	}
	_ = f.srv.InjectFault("fraud", &Fault{Down: true})
	for range 2 {
		f.post(t, "/v2/models/fraud/infer", body, nil)
	}
	waitFor(t, func() bool { return len(fl.records()) == 18 })
	recs := fl.records()
	first, last := recs[0], recs[17]
	if first.Alias != "champion" || first.Path != PathPrimary || first.Version != 1 || len(first.Features) != features || last.Path != PathHeuristic {
		t.Errorf("records[0] = %+v, records[17] = %+v; want primary v1 rows with %d features, then heuristic", first, last, features)
	}
	// Readers (platform/monitoring) decode the same records with predlog.
	ev := fl.events()[0]
	mps, err := predlog.DecodePredictions(&eventlog.Message{Event: ev})
	var mp predlog.Prediction
	if len(mps) > 0 {
		mp = mps[0]
	}
	subject := ev.Subject
	if err != nil || mp.ID == "" || mp.Model != "fraud" || mp.Score != first.Score || len(mp.Features) != features || subject != predlog.PredictionSubject("fraud") {
		t.Errorf("as predlog.Prediction: %+v on %s (err %v); want the same record on %s", mp, subject, err, predlog.PredictionSubject("fraud"))
	}
	if got := testutil.ToFloat64(f.srv.met.requests.WithLabelValues("fraud", "champion", "1", PathPrimary)); got != 4 {
		t.Errorf("requests{path=primary,version=1} = %v, want 4", got)
	}
	if got := testutil.ToFloat64(f.srv.met.requests.WithLabelValues("fraud", "champion", "0", PathHeuristic)); got != 2 {
		t.Errorf("requests{path=heuristic} = %v, want 2", got)
	}
	// Every answered row lands in the score distribution of the version and path that answered.
	var sd dto.Metric
	if err := f.srv.met.scores.WithLabelValues("fraud", "1", PathPrimary).(prometheus.Metric).Write(&sd); err != nil {
		t.Fatal(err)
	}
	if got, want := sd.GetHistogram().GetSampleCount(), uint64(4*rows); got != want {
		t.Errorf("score{version=1,path=primary} samples = %d, want %d (4 requests × %d rows)", got, want, rows)
	}
	if sum := sd.GetHistogram().GetSampleSum(); !(sum > 0 && sum < float64(4*rows)) {
		t.Errorf("score sum = %v, want scores in (0, 1)", sum)
	}
}

// TestTimeoutParameter: the protocol parameter timeout_ms sets the deadline; with the model
// stalled, the answer comes from the fallback chain within that budget, not the SLA.
func TestTimeoutParameter(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Models[0].SLA, c.Models[0].FallbackReserve = 5*time.Second, 5*time.Millisecond
	})
	_ = f.srv.InjectFault("fraud", &Fault{Stall: 10 * time.Second})
	body := `{"parameters":{"timeout_ms":50},"inputs":[{"name":"input","shape":[1,8],"datatype":"FP64","data":[0,0,0,0,0,0,0,0]}]}`
	t0 := time.Now()
	resp, b := f.post(t, "/v2/models/fraud/infer", []byte(body), nil)
	if el := time.Since(t0); resp.StatusCode != 200 || resp.Header.Get(HeaderPath) != PathHeuristic || el > 2*time.Second {
		t.Errorf("stalled model, timeout_ms 50: status %d path %q after %v (%s); want 200 heuristic well before the 5 s SLA",
			resp.StatusCode, resp.Header.Get(HeaderPath), el, b)
	}
}

// TestRepositoryLoadUnload: an admin loads a registry model that was not served, and
// unloads it again.
func TestRepositoryLoadUnload(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Models = nil })
	if resp, _ := f.post(t, "/v2/models/fraud/infer", servingtest.Body(f.rows(0, 1), features), nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unserved model: status %d, want 404", resp.StatusCode)
	}
	if resp, b := f.post(t, "/v2/repository/models/fraud/load", []byte(`{"reason":"test"}`), nil); resp.StatusCode != 200 {
		t.Fatalf("load: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.post(t, "/v2/models/fraud/infer", servingtest.Body(f.rows(0, 1), features), nil); resp.StatusCode != 200 {
		t.Fatalf("after load: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.post(t, "/v2/repository/models/nope/load", []byte(`{"reason":"test"}`), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("load of an unregistered model: %d %s, want 404", resp.StatusCode, b)
	}
	resp, b := f.post(t, "/v2/repository/index", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"READY"`) {
		t.Errorf("index = %d %s, want fraud READY", resp.StatusCode, b)
	}
	if resp, b := f.post(t, "/v2/repository/models/fraud/unload", []byte(`{"reason":"test"}`), nil); resp.StatusCode != 200 {
		t.Fatalf("unload: %d %s", resp.StatusCode, b)
	}
	if resp, _ := f.post(t, "/v2/models/fraud/infer", servingtest.Body(f.rows(0, 1), features), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after unload: status %d, want 404", resp.StatusCode)
	}
}

// TestInProcessInferLogsAndCounts: a caller in the same process (a stream scorer) gets the
// same prediction records and request metrics as an HTTP client, under its own id.
func TestInProcessInferLogsAndCounts(t *testing.T) {
	fl := &fakeLog{}
	f := newFixture(t, func(c *Config) { c.PredictionLog = fl })
	res, err := f.srv.Infer(context.Background(), Request{Model: "fraud", Decoded: Decoded{ID: "tx-42", Rows: 1, X: f.rows(0, 1)}})
	if err != nil {
		t.Fatalf("Infer = %v", err)
	}
	if _, err := f.srv.Infer(context.Background(), Request{Model: "fraud", Decoded: Decoded{Rows: 1, X: f.rows(1, 1)}}); err != nil {
		t.Fatalf("Infer without an id = %v", err)
	}
	waitFor(t, func() bool { return len(fl.records()) == 2 })
	recs := fl.records()
	if recs[0].ID != "tx-42" || recs[0].Score != res.Scores[0] || recs[0].Path != PathPrimary || len(recs[0].Features) != features {
		t.Errorf("record = %+v, want id tx-42, score %v, primary path, %d features", recs[0], res.Scores[0], features)
	}
	if recs[1].ID == "" || recs[1].ID == "tx-42" {
		t.Errorf("record without a request id has id %q, want a generated one", recs[1].ID)
	}
	if got := testutil.ToFloat64(f.srv.met.requests.WithLabelValues("fraud", "champion", "1", PathPrimary)); got != 2 {
		t.Errorf("requests{path=primary,version=1} = %v, want 2", got)
	}
	// A batch of unrelated events logs each row under its own id.
	if _, err := f.srv.Infer(context.Background(), Request{Model: "fraud", Decoded: Decoded{ID: "batch-1", Rows: 2, X: f.rows(2, 2), RowIDs: []string{"tx-7", "tx-9"}}}); err != nil {
		t.Fatalf("Infer with row ids = %v", err)
	}
	waitFor(t, func() bool { return len(fl.records()) == 4 })
	if recs := fl.records(); recs[2].ID != "tx-7" || recs[3].ID != "tx-9" {
		t.Errorf("row ids logged as %q, %q; want tx-7, tx-9", recs[2].ID, recs[3].ID)
	}
}
