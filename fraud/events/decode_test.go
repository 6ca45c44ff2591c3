package events

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
)

// TestDecodeTxMatchesJSON: the fast path and encoding/json agree on every simulated
// transaction and on odd but valid JSON; invalid input is an error on both.
func TestDecodeTxMatchesJSON(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 100, 200, 20
	d, err := sim.Generate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	extra := []sim.Transaction{
		{ID: -1, Time: time.Date(2018, 4, 1, 0, 0, 0, 123456789, time.FixedZone("x", 3600)), Amount: 1e-7, Fraud: true, Scenario: 3},
		{ID: 1 << 60, Time: time.Unix(0, 0), Amount: 1e22, Seconds: -5, Day: -1},
	}
	fast := 0
	for _, tx := range append(d.Transactions, extra...) {
		b, err := json.Marshal(tx)
		if err != nil {
			t.Fatal(err)
		}
		var want sim.Transaction
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTx(b)
		if err != nil || !reflect.DeepEqual(got, want) || !got.Time.Equal(want.Time) {
			t.Fatalf("DecodeTx(%s) = %+v, %v; want %+v", b, got, err, want)
		}
		if _, ok := decodeFast(b); ok {
			fast++
		}
	}
	if fast != len(d.Transactions)+len(extra) {
		t.Errorf("fast path took %d of %d payloads written by encoding/json", fast, len(d.Transactions)+len(extra))
	}
	for _, in := range []string{
		`{"Time":"2018-04-01T00:00:00Z","ID":7,"Customer":1,"Terminal":2,"Amount":3.5,"Seconds":4,"Day":0,"Fraud":false,"Scenario":0}`,
		`{"ID":7, "Time":"2018-04-01T00:00:00Z","Customer":1,"Terminal":2,"Amount":3.5,"Seconds":4,"Day":0,"Fraud":false,"Scenario":0}`,
		`{"ID":7,"Time":"2018-04-01T00:00:00Z","Customer":1,"Terminal":2,"Amount":35e-1,"Seconds":4,"Day":0,"Fraud":false,"Scenario":0}`,
		`{"ID":7}`,
	} {
		var want sim.Transaction
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTx([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeTx(%s) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{``, `{`, `{"ID":"x"}`, `{"ID":7,"Time":"yesterday"}`, `[1]`,
		`{"ID":7,"Time":"2018-04-01T00:00:00Z","Customer":1,"Terminal":2,"Amount":+3,"Seconds":4,"Day":0,"Fraud":false,"Scenario":0}`,
		`{"ID":07,"Time":"2018-04-01T00:00:00Z","Customer":1,"Terminal":2,"Amount":3,"Seconds":4,"Day":0,"Fraud":false,"Scenario":0}`,
		`{"ID":+7,"Time":"2018-04-01T00:00:00Z","Customer":1,"Terminal":2,"Amount":3,"Seconds":4,"Day":0,"Fraud":false,"Scenario":0}`,
		`{"ID":7,"Time":"2018-04-01T00:00:00Z","Customer":1,"Terminal":2,"Amount":.5,"Seconds":4,"Day":0,"Fraud":false,"Scenario":0}`} {
		if _, err := DecodeTx([]byte(in)); err == nil {
			t.Errorf("DecodeTx(%q) = nil error, want one", in)
		}
	}
}

func BenchmarkDecodeTx(b *testing.B) {
	data, _ := json.Marshal(sim.Transaction{ID: 586317, Time: time.Date(2018, 5, 31, 0, 0, 28, 0, time.UTC), Customer: 477, Terminal: 1195, Amount: 60.46, Seconds: 5184028, Day: 60})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeTx(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var tx sim.Transaction
			if err := json.Unmarshal(data, &tx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
