package serving

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/predlog"
)

// TestPredictionLogGroupsRecords: N scored rows of one request are published as
// ceil(N/256) messages on predictions.fraud, each with the id predlog's rule gives its
// records, and the records read back are the rows that were scored, in order.
func TestPredictionLogGroupsRecords(t *testing.T) {
	fl := &fakeLog{}
	f := newFixture(t, func(c *Config) { c.PredictionLog = fl })
	names := f.data.Schema.Names()
	for _, n := range []int{1, 255, 256, 257, 600} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			before, beforeEvs := len(fl.records()), len(fl.events())
			id := fmt.Sprintf("grouped-%d", n)
			x := f.rows(0, n)
			res, err := f.srv.Infer(context.Background(), Request{Model: "fraud", Decoded: Decoded{ID: id, Rows: n, X: x}})
			if err != nil {
				t.Fatalf("Infer(%d rows) = %v", n, err)
			}
			waitFor(t, func() bool { return len(fl.records()) >= before+n })
			evs := fl.events()[beforeEvs:]
			if want := (n + 255) / 256; len(evs) != want {
				t.Fatalf("%d rows published as %d messages, want %d", n, len(evs), want)
			}
			var got []predlog.Prediction
			for i, ev := range evs {
				recs, err := predlog.DecodePredictions(&eventlog.Message{Event: ev})
				if err != nil {
					t.Fatalf("message %d: DecodePredictions = %v", i, err)
				}
				ids := make([]string, len(recs))
				for j, r := range recs {
					ids[j] = r.ID
				}
				if want := predlog.PredictionMessageID(ids); ev.ID != want || ev.Subject != predlog.PredictionSubject("fraud") {
					t.Errorf("message %d: id %q on %s, want %q on %s", i, ev.ID, ev.Subject, want, predlog.PredictionSubject("fraud"))
				}
				if len(recs) == 1 && (ev.ID != recs[0].ID || bytes.ContainsRune(ev.Data, '\n')) {
					t.Errorf("one-record message: id %q, data %q; want the record's id and its JSON alone", ev.ID, ev.Data)
				}
				got = append(got, recs...)
			}
			if len(got) != n {
				t.Fatalf("read back %d records, want %d", len(got), n)
			}
			for i, r := range got {
				wantID := id
				if n > 1 {
					wantID = fmt.Sprintf("%s#%d", id, i)
				}
				if r.ID != wantID || r.Score != res.Scores[i] || r.Model != "fraud" || r.Version != 1 || r.Path != PathPrimary || len(r.Features) != len(names) {
					t.Fatalf("record %d = %+v, want id %s, score %v, fraud v1 primary with %d features", i, r, wantID, res.Scores[i], len(names))
				}
				for j, nm := range names {
					if v := x[i*len(names)+j]; r.Features[nm] != v {
						t.Fatalf("record %d feature %s = %v, want %v", i, nm, r.Features[nm], v)
					}
				}
			}
		})
	}
}

// TestPredictionLogEventTime: an in-process caller's EventTime is the time its records
// carry (so a replay or a simulation joins outcomes in event time); without one, the
// record carries the time of the call.
func TestPredictionLogEventTime(t *testing.T) {
	fl := &fakeLog{}
	f := newFixture(t, func(c *Config) { c.PredictionLog = fl })
	at := time.Date(2020, 3, 4, 5, 6, 7, 8, time.FixedZone("x", 3600))
	before := time.Now()
	rowAt := []time.Time{at.Add(time.Hour), at.Add(-time.Hour)}
	for _, req := range []Request{
		{Model: "fraud", Decoded: Decoded{ID: "then", Rows: 1, X: f.rows(0, 1), EventTime: at}},
		{Model: "fraud", Decoded: Decoded{ID: "now", Rows: 1, X: f.rows(1, 1)}},
		{Model: "fraud", Decoded: Decoded{ID: "rows", Rows: 2, X: f.rows(2, 2), RowIDs: []string{"r0", "r1"}, RowTimes: rowAt, EventTime: at}},
	} {
		if _, err := f.srv.Infer(context.Background(), req); err != nil {
			t.Fatalf("Infer(%s) = %v", req.ID, err)
		}
	}
	waitFor(t, func() bool { return len(fl.records()) >= 4 })
	for _, r := range fl.records() {
		switch r.ID {
		case "r0", "r1":
			want := rowAt[r.ID[1]-'0'].UTC()
			if !r.Time.Equal(want) || r.Time.Location() != time.UTC {
				t.Errorf("record %s time %v, want its row's event time %v in UTC", r.ID, r.Time, want)
			}
		case "then":
			if !r.Time.Equal(at) || r.Time.Location() != time.UTC {
				t.Errorf("record %s time %v, want the request's event time %v in UTC", r.ID, r.Time, at.UTC())
			}
		case "now":
			if r.Time.Before(before.Add(-time.Second)) {
				t.Errorf("record %s time %v, want the time of the call (after %v)", r.ID, r.Time, before)
			}
		}
	}
}
