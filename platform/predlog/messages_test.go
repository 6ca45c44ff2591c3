package predlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func testPrediction(i int) Prediction {
	return Prediction{ID: fmt.Sprintf("r%d", i), Model: "fraud", Version: 2, Alias: "champion", Time: t0.Add(time.Duration(i) * time.Second),
		Features: map[string]float64{"x": float64(i), "y": 0.5}, Score: float64(i%10) / 10, Path: "primary"}
}

// TestDecodePredictionsRoundTrip: records grouped into one message read back as they were
// written, with or without a trailing newline; a one-record message is that record's
// JSON alone, under its id, as before records were grouped.
func TestDecodePredictionsRoundTrip(t *testing.T) {
	var want []Prediction
	var msgs PredictionMessages
	for i := range 3 {
		p := testPrediction(i)
		want = append(want, p)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		msgs.Add(PredictionSubject("fraud"), p.ID, p.Time, b)
	}
	evs := msgs.Events()
	if len(evs) != 1 || bytes.Count(evs[0].Data, []byte{'\n'}) != 2 || !evs[0].Time.Equal(t0) {
		t.Fatalf("3 records gave %d messages (%q); want one of 3 lines at the first record's time", len(evs), evs)
	}
	if want := PredictionMessageID([]string{"r0", "r1", "r2"}); evs[0].ID != want || !strings.HasPrefix(want, "preds-") || !strings.HasSuffix(want, "-3") {
		t.Errorf("message id %q, want %q of the form preds-<hash>-3", evs[0].ID, want)
	}
	for _, data := range [][]byte{evs[0].Data, append(bytes.Clone(evs[0].Data), '\n')} {
		got, err := DecodePredictions(&eventlog.Message{Event: eventlog.Event{ID: evs[0].ID, Subject: evs[0].Subject, Data: data}})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("DecodePredictions(%q) = %+v, %v; want %+v", data, got, err, want)
		}
	}
	if _, err := DecodePrediction(&eventlog.Message{Event: evs[0]}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("DecodePrediction of a 3-record message = %v, want ErrBadRecord", err)
	}

	one, _ := json.Marshal(want[1])
	msgs.Add(PredictionSubject("fraud"), "r1", want[1].Time, one)
	single := msgs.Events()
	if len(single) != 1 || single[0].ID != "r1" || !bytes.Equal(single[0].Data, one) {
		t.Fatalf("one record gave %+v, want one message %q with id r1", single, one)
	}
	if got, err := DecodePrediction(&eventlog.Message{Event: single[0]}); err != nil || !reflect.DeepEqual(got, want[1]) {
		t.Errorf("DecodePrediction(one record) = %+v, %v; want %+v", got, err, want[1])
	}
}

// TestDecodePredictionsBadLine: a message with a line that does not decode, or a record
// without an id, is refused as a whole, naming the message, subject and line.
func TestDecodePredictionsBadLine(t *testing.T) {
	good := `{"id":"a","model":"m","version":1,"time":"2026-11-01T00:00:00Z","features":{"x":1},"score":0.5}`
	for _, tc := range []struct {
		name, data string
		line       int
	}{
		{"empty message", "", 1},
		{"not json", good + "\n{not json", 2},
		{"no id", good + "\n" + good + "\n" + `{"model":"m","score":0.5}`, 3},
		{"empty line", good + "\n\n" + good, 2},
		{"two trailing newlines", good + "\n\n", 2},
		{"two records on a line", good + good, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &eventlog.Message{Event: eventlog.Event{ID: "msg-7", Subject: PredictionSubject("m"), Data: []byte(tc.data)}}
			got, err := DecodePredictions(m)
			if !errors.Is(err, ErrBadRecord) || got != nil {
				t.Fatalf("DecodePredictions(%q) = %v, %v; want nil, ErrBadRecord", tc.data, got, err)
			}
			for _, want := range []string{`"msg-7"`, "predictions.m", fmt.Sprintf("line %d", tc.line)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		})
	}
}

// TestPredictionMessagesLimits: records are grouped per subject, at most 256 to a message
// and 256 KiB of data; the same records in the same order give the same ids, another
// order other ids.
func TestPredictionMessagesLimits(t *testing.T) {
	build := func(n, size int, subjects ...string) []eventlog.Event {
		var b PredictionMessages
		for i := range n {
			rec := fmt.Appendf(nil, `{"id":"r%d","pad":"%s"}`, i, strings.Repeat("p", size))
			b.Add(subjects[i%len(subjects)], fmt.Sprintf("r%d", i), t0, rec)
		}
		if b.Records() != n {
			t.Errorf("Records() = %d, want %d", b.Records(), n)
		}
		return b.Events()
	}
	lines := func(ev eventlog.Event) int { return bytes.Count(ev.Data, []byte{'\n'}) + 1 }

	evs := build(600, 10, "predictions.a")
	if len(evs) != 3 || lines(evs[0]) != 256 || lines(evs[1]) != 256 || lines(evs[2]) != 88 {
		t.Errorf("600 small records: %d messages, want 3 of 256, 256, 88", len(evs))
	}
	again := build(600, 10, "predictions.a")
	for i := range evs {
		if i < len(again) && (again[i].ID != evs[i].ID || !bytes.Equal(again[i].Data, evs[i].Data)) {
			t.Errorf("message %d built twice: id %q then %q; want the same message", i, evs[i].ID, again[i].ID)
		}
	}
	if evs[0].ID == evs[1].ID {
		t.Errorf("two messages of different records share the id %q", evs[0].ID)
	}
	if a, b := PredictionMessageID([]string{"a", "b"}), PredictionMessageID([]string{"b", "a"}); a == b {
		t.Errorf("PredictionMessageID of a, b and of b, a are both %q", a)
	}
	if a, b := PredictionMessageID([]string{"ab", "c"}), PredictionMessageID([]string{"a", "bc"}); a == b {
		t.Errorf("PredictionMessageID of ab, c and of a, bc are both %q", a)
	}

	// ~10 KiB records: 26 fit in 256 KiB with their separators.
	big := build(100, 10_000, "predictions.a")
	if len(big) != 4 || lines(big[0]) != 26 || lines(big[3]) != 22 {
		t.Errorf("100 records of ~10 KB: %d messages, want 4 (26, 26, 26, 22)", len(big))
	}
	for i, ev := range big {
		if len(ev.Data) > MaxMessageBytes {
			t.Errorf("message %d holds %d bytes, more than %d", i, len(ev.Data), MaxMessageBytes)
		}
	}
	if huge := build(2, MaxMessageBytes, "predictions.a"); len(huge) != 2 {
		t.Errorf("2 records each over the byte limit: %d messages, want 2 (one each)", len(huge))
	}

	// Two subjects, interleaved: one message each, in the order first seen.
	mixed := build(10, 10, "predictions.b", "predictions.a")
	if len(mixed) != 2 || mixed[0].Subject != "predictions.b" || mixed[1].Subject != "predictions.a" || lines(mixed[0]) != 5 || lines(mixed[1]) != 5 {
		t.Errorf("10 records over two subjects: %+v, want b then a, 5 records each", mixed)
	}
}

// TestFeatureNames: the sorted union of the names logged, each once.
func TestFeatureNames(t *testing.T) {
	ps := []Prediction{{Features: map[string]float64{"b": 1, "a": 2}}, {Features: map[string]float64{"c": 3, "a": 4}}, {}}
	if got := FeatureNames(ps); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("FeatureNames = %v, want [a b c]", got)
	}
}

// TestDecodeScoresMatchesJSON: DecodeScores gives what DecodePredictions gives, without the
// features, on records the Encoder writes (random values, odd names, with and without
// alias and path) and on valid JSON the fast path does not take; what encoding/json
// refuses it refuses too, whichever path the record would have taken.
func TestDecodeScoresMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	names := []string{"zeta", "amount", "a<b>&c", "Ünïcode", "quote\"d", "b"}
	enc := NewEncoder(names)
	at := time.Date(2026, 11, 25, 23, 1, 2, 345678900, time.UTC)
	var lines [][]byte
	fast := 0
	for n := range 500 {
		x := make([]float64, len(names))
		for i := range x {
			x[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(30)-15))
			if rng.IntN(5) == 0 {
				x[i] = math.NaN()
			}
		}
		alias, path := []string{"", "champion"}[n%2], []string{"", "primary", "we\"ird"}[n%3]
		rec, err := enc.AppendRecord(nil, "tx-"+strconv.Itoa(n), "fraud", n, alias, at.Add(time.Duration(n)*time.Second), x, rng.Float64(), path)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodeScoreFast(rec); ok {
			fast++
		}
		lines = append(lines, rec)
	}
	lines = append(lines,
		[]byte(`{"model":"fraud","id":"reordered","version":1,"time":"2026-01-02T03:04:05Z","features":{},"score":0.5}`),
		[]byte(`{"id":"spaced", "model":"fraud","version":1,"time":"2026-01-02T03:04:05Z","features":{"a":1},"score":0.5}`),
		[]byte(`{"id":"esc\u0041pe","model":"fraud","version":1,"time":"2026-01-02T03:04:05Z","features":{"a":1e-7},"score":1E+2}`))
	if fast < 330 { // two in three have an escape-free path
		t.Errorf("fast path took %d of 500 encoder records", fast)
	}
	m := &eventlog.Message{Event: eventlog.Event{ID: "m", Subject: PredictionSubject("fraud"), Data: bytes.Join(lines, []byte{'\n'})}}
	want, err := DecodePredictions(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeScores(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		w := want[i]
		w.Features = nil
		if !reflect.DeepEqual(got[i], w) || !got[i].Time.Equal(w.Time) {
			t.Fatalf("record %d: DecodeScores %+v, DecodePredictions %+v", i, got[i], w)
		}
	}
	for _, bad := range []string{
		`{"id":"a","model":"fraud","version":1,"time":"2026-01-02T03:04:05Z","features":{"a":1,},"score":0.5}`,
		`{"id":"a","model":"fraud","version":+1,"time":"2026-01-02T03:04:05Z","features":{},"score":0.5}`,
		`{"id":"a","model":"fraud","version":1,"time":"2026-01-02T03:04:05Z","features":{"a":.5},"score":0.5}`,
		`{"id":"a","model":"fraud","version":1,"time":"2026-01-02T03:04:05Z","features":{},"score":1.}`,
		`{"id":"a","model":"fraud","version":1,"time":"yesterday","features":{},"score":0.5}`,
		`{"id":"a","model":"fraud","version":1,"time":"2026-01-02T03:04:05Z","features":{},"score":0.5}x`,
		`{"id":"","model":"fraud","version":1,"time":"2026-01-02T03:04:05Z","features":{},"score":0.5}`,
		`{"id":"a","model":"fraud","version":1,"time":"2026-01-02T03:04:05Z","features":{"a\x":1},"score":0.5}`,
		`{"id":"a","model":"fraud","version":1,"time":"2026-01-02T03:04:05Z","features":{"a\u12g4":1},"score":0.5}`,
	} {
		bm := &eventlog.Message{Event: eventlog.Event{ID: "bad", Subject: PredictionSubject("fraud"), Data: []byte(bad)}}
		_, werr := DecodePredictions(bm)
		_, gerr := DecodeScores(bm)
		if werr == nil || gerr == nil || !errors.Is(gerr, ErrBadRecord) {
			t.Errorf("%s: DecodePredictions error %v, DecodeScores error %v; want both to refuse it", bad, werr, gerr)
		}
	}
}
