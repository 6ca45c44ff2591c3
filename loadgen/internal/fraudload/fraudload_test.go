package fraudload

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
)

func smallConfig() Config {
	return Config{Seed: 3, Customers: 300, Terminals: 600, Days: 40, StartDay: 12, LabelDelay: 7 * 24 * time.Hour, Tokenizer: pii.Demo()}
}

// TestSequenceIsTheReplayFromStartDay: the workload hands out exactly what
// events.Replay puts on the log for the whole simulation, from the first transaction of
// StartDay on, as requests the scorer can read.
func TestSequenceIsTheReplayFromStartDay(t *testing.T) {
	for _, delay := range []time.Duration{7 * 24 * time.Hour, 36 * time.Hour, 0} {
		t.Run(delay.String(), func(t *testing.T) {
			cfg := smallConfig()
			cfg.LabelDelay = delay
			w, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatalf("New(%+v) = %v", cfg, err)
			}
			d, err := sim.Generate(context.Background(), cfg.sim())
			if err != nil {
				t.Fatal(err)
			}
			all, err := events.Replay(events.Tokenize(cfg.Tokenizer, d.Transactions), delay)
			if err != nil {
				t.Fatal(err)
			}
			split := -1
			for i, ev := range all {
				var tx sim.Transaction
				if ev.Subject == events.TxSubject && json.Unmarshal(ev.Data, &tx) == nil && tx.Day >= cfg.StartDay {
					split = i
					break
				}
			}
			want := all[split:]
			if w.Len() != len(want) {
				t.Fatalf("Len() = %d, want %d (replay from index %d of %d)", w.Len(), len(want), split, len(all))
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for i, ev := range want {
				got := w.Next(rng)
				wantReq := loadgen.Request{ID: ev.ID, Subject: ev.Subject, Time: ev.Time, Body: ev.Data, NoAnswer: ev.Subject != events.TxSubject}
				if !reflect.DeepEqual(got, wantReq) {
					t.Fatalf("Next() #%d = %+v, want %+v", i, got, wantReq)
				}
			}
		})
	}
}

// TestSequenceProperties: transaction ids strictly increase, each chargeback arrives
// LabelDelay after its transaction, nothing happens before StartDay, and only
// transactions await an answer.
func TestSequenceProperties(t *testing.T) {
	cfg := smallConfig()
	w, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := sim.DefaultConfig().Start.AddDate(0, 0, cfg.StartDay)
	rng := rand.New(rand.NewPCG(1, 2))
	lastTx, labels, txs, earlyLabels := int64(-1), 0, 0, 0
	for i := range w.Len() {
		r := w.Next(rng)
		var tx sim.Transaction
		if err := json.Unmarshal(r.Body, &tx); err != nil {
			t.Fatalf("event %d: body %q: %v", i, r.Body, err)
		}
		if r.Time.Before(start) {
			t.Fatalf("event %d (%s %s) at %v, before start day %d (%v)", i, r.Subject, r.ID, r.Time, cfg.StartDay, start)
		}
		switch r.Subject {
		case events.TxSubject:
			txs++
			id, err := strconv.ParseInt(r.ID, 10, 64)
			if err != nil || id <= lastTx || r.NoAnswer || id != tx.ID || !r.Time.Equal(tx.Time) || tx.Fraud {
				t.Fatalf("transaction %d: %+v (body %s), want id > %d, awaiting an answer, label cleared", i, r, r.Body, lastTx)
			}
			lastTx = id
		case events.LabelSubject:
			labels++
			if r.ID != "label-"+events.TxID(tx.ID) || !r.NoAnswer || !tx.Fraud || !r.Time.Equal(tx.Time.Add(cfg.LabelDelay)) {
				t.Fatalf("label %d: %+v (body %s), want id label-%d, no answer, at tx time + %v", i, r, r.Body, tx.ID, cfg.LabelDelay)
			}
			if tx.Day < cfg.StartDay {
				earlyLabels++
			}
		default:
			t.Fatalf("event %d on subject %q", i, r.Subject)
		}
	}
	if txs != w.Transactions() || labels == 0 || earlyLabels == 0 {
		t.Errorf("%d transactions (Transactions() = %d), %d labels of which %d for frauds before the start day; want labels of both kinds",
			txs, w.Transactions(), labels, earlyLabels)
	}
}

// TestNextPastTheEnd: an exhausted workload repeats its last event as a no-answer request
// (deduplicated by the log) and says so in the report's notes; it never panics.
func TestNextPastTheEnd(t *testing.T) {
	w, err := New(context.Background(), smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var last loadgen.Request
	for range w.Len() {
		last = w.Next(rng)
	}
	if n := strings.Join(w.Notes(), "\n"); strings.Contains(n, "ran out") {
		t.Errorf("Notes() = %q before running out", n)
	}
	for range 3 {
		r := w.Next(rng)
		if r.ID != last.ID || !r.NoAnswer {
			t.Errorf("Next() past the end = %+v, want id %s and NoAnswer", r, last.ID)
		}
	}
	if n := strings.Join(w.Notes(), "\n"); !strings.Contains(n, "ran out: 3 requests") {
		t.Errorf("Notes() = %q, want it to count 3 repeats", n)
	}
	empty := &Workload{}
	if r := empty.Next(rng); !r.NoAnswer {
		t.Errorf("empty Next() = %+v, want NoAnswer", r)
	}
}

func TestParseSpec(t *testing.T) {
	def := DefaultConfig()
	if def != (Config{Seed: 0, Customers: 5000, Terminals: 10000, Days: 183, StartDay: 60, LabelDelay: 168 * time.Hour}) {
		t.Errorf("DefaultConfig() = %+v", def)
	}
	tests := []struct {
		spec string
		want Config
		err  string
	}{
		{spec: "fraud", want: def},
		{spec: "fraud:", want: def},
		{spec: "fraud:customers=100,terminals=200,days=30,start=10,seed=7,label-delay=2d",
			want: Config{Seed: 7, Customers: 100, Terminals: 200, Days: 30, StartDay: 10, LabelDelay: 48 * time.Hour}},
		{spec: "fraud:label-delay=36h", want: func() Config { c := def; c.LabelDelay = 36 * time.Hour; return c }()},
		{spec: "fraud:csv=/data/tx.csv,start=120,speedup=1e5",
			want: func() Config { c := def; c.CSV, c.StartDay, c.Speedup = "/data/tx.csv", 120, 1e5; return c }()},
		{spec: "fraud:csv=/data/tx.csv,start=500", want: func() Config { c := def; c.CSV, c.StartDay = "/data/tx.csv", 500; return c }()},
		{spec: "fraud:csv=", err: "want a file path"},
		{spec: "fraud:speedup=0", err: "want a positive number"},
		{spec: "fraud:speedup=fast", err: `speedup="fast"`},
		{spec: "fraud:customers=x", err: `customers="x"`},
		{spec: "fraud:colour=red", err: `unknown key "colour"`},
		{spec: "fraud:days", err: "not key=value"},
		{spec: "fraud:start=183", err: "start day 183 must be in 0..182"},
		{spec: "fraud:label-delay=-1h", err: "must not be negative"},
		{spec: "fraud:label-delay=week", err: "label-delay"},
		{spec: "fraud:customers=0", err: "customers 0 < 1"},
		{spec: "zipf:10", err: "not a fraud workload"},
	}
	for _, tc := range tests {
		got, err := ParseSpec(tc.spec)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		case tc.err != "" && (!errors.Is(err, loadgen.ErrBadWorkload) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSpec(%q) error = %v, want ErrBadWorkload mentioning %q", tc.spec, err, tc.err)
		}
	}
}

// Offsets put each event where events.Replay put it on the log: transactions at their time,
// chargebacks LabelDelay after their transaction. Replay's order already follows those
// times, so none is held back to keep the offsets from going back.
func TestOffsetsFollowTheLog(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days, cfg.StartDay = 60, 120, 40, 10
	cfg.Tokenizer = pii.Demo()
	w, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	at := w.Offsets(1)
	if len(at) != w.Len() || at[0] != 0 {
		t.Fatalf("%d offsets for %d events, first %v; want one each, starting at 0", len(at), w.Len(), at[0])
	}
	labels := 0
	for i := 1; i < len(at); i++ {
		if w.recs[i].label {
			labels++
		}
		if raw := time.Duration(w.recs[i].unixNanos - w.recs[0].unixNanos); raw < at[i-1] {
			t.Fatalf("event %d reaches the log %v after the first, before event %d (%v): Replay's order and the log times disagree", i, raw, i-1, at[i-1])
		}
	}
	if labels == 0 {
		t.Fatal("no chargeback among the live events")
	}
	last := at[len(at)-1]
	if fast := w.Offsets(1000)[len(at)-1]; fast < last/1000-time.Microsecond || fast > last/1000+time.Microsecond {
		t.Errorf("at 1000× the last offset is %v, want %v", fast, last/1000)
	}
}

// TestCSVEqualsSimulation: a CSV written from a simulation replays exactly the events the
// simulation itself does (same ids, subjects, times and payloads, in the same order), and a
// start day past the file's end is refused.
func TestCSVEqualsSimulation(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days, cfg.StartDay = 60, 120, 40, 10
	cfg.Tokenizer = pii.Demo()
	want, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := sim.Generate(ctx, cfg.sim())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tx.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.WriteCSV(f, d.Transactions, sim.TimeUnixNano); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cc := Config{CSV: path, StartDay: cfg.StartDay, LabelDelay: cfg.LabelDelay, Tokenizer: cfg.Tokenizer}
	got, err := New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != want.Len() || got.Transactions() != want.Transactions() || want.Len() == 0 {
		t.Fatalf("CSV workload: %d events (%d transactions), simulation: %d (%d)", got.Len(), got.Transactions(), want.Len(), want.Transactions())
	}
	for i := range want.Len() {
		g, w := got.Next(nil), want.Next(nil)
		if g.ID != w.ID || g.Subject != w.Subject || !g.Time.Equal(w.Time) || string(g.Body) != string(w.Body) || g.NoAnswer != w.NoAnswer {
			t.Fatalf("event %d: CSV %s %s %v %s, simulation %s %s %v %s", i, g.ID, g.Subject, g.Time, g.Body, w.ID, w.Subject, w.Time, w.Body)
		}
	}
	cc.StartDay = 40
	if _, err := New(ctx, cc); !errors.Is(err, loadgen.ErrBadWorkload) || !strings.Contains(err.Error(), "no transactions from day 40") {
		t.Errorf("start past the file's end: New = %v, want ErrBadWorkload naming the day", err)
	}
}

// BenchmarkNext is the workload's share of the generator's cost per request: no allocation.
func BenchmarkNext(b *testing.B) {
	w, err := New(context.Background(), smallConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if w.next >= len(w.recs) {
			w.next = 0
		}
		_ = w.Next(nil)
	}
}
