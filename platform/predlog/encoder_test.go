package predlog

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestEncoderMatchesJSON: the hand-written encoder produces exactly the bytes
// encoding/json produces for the same record, over odd names, strings and numbers, and
// refuses what encoding/json refuses.
func TestEncoderMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"zeta", "amount", "a<b>&c", "Ünïcode", "quote\"d", "amount_7d", "b", "dup", "dup"}
	enc := NewEncoder(names)
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-7, 1e-6, 123456.789, 1e20, 1e21, 5e-324, math.MaxFloat64, -2.5e-9, math.NaN()}
	at := time.Date(2026, 11, 25, 23, 1, 2, 345678900, time.UTC)
	for n := range 2000 {
		x := make([]float64, len(names))
		for i := range x {
			if rng.IntN(3) == 0 {
				x[i] = floats[rng.IntN(len(floats))]
			} else {
				x[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(30)-15))
			}
		}
		score := rng.Float64()
		id, alias, path := "tx-"+string(rune('a'+n%26)), []string{"", "champion", "shadow"}[n%3], []string{"", "primary", "we\"ird\n"}[n%3]
		got, err := enc.AppendRecord(nil, id, "fraud", n, alias, at, x, score, path)
		if err != nil {
			t.Fatalf("AppendRecord: %v", err)
		}
		f := map[string]float64{}
		for i, nm := range names {
			if !math.IsNaN(x[i]) {
				f[nm] = x[i]
			} else {
				delete(f, nm) // a later NaN duplicate leaves the name out, as the encoder does
			}
		}
		want, err := json.Marshal(Prediction{ID: id, Model: "fraud", Version: n, Alias: alias, Time: at, Features: f, Score: score, Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", n, got, want)
		}
	}
	for _, bad := range []struct {
		score float64
		x0    float64
	}{{math.NaN(), 1}, {math.Inf(1), 1}, {0.5, math.Inf(-1)}} {
		x := make([]float64, len(names))
		x[1] = bad.x0
		if _, err := enc.AppendRecord(nil, "id", "m", 1, "", at, x, bad.score, ""); err == nil {
			t.Errorf("score %v, feature %v: no error, want one (encoding/json refuses it)", bad.score, bad.x0)
		}
	}
	if !enc.SameNames(names) || enc.SameNames(names[1:]) {
		t.Errorf("SameNames: want true for the encoder's names only")
	}
}

func BenchmarkEncoder(b *testing.B) {
	names := []string{"TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT", "CUSTOMER_ID_NB_TX_1DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
		"CUSTOMER_ID_NB_TX_7DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW", "CUSTOMER_ID_NB_TX_30DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
		"TERMINAL_ID_NB_TX_1DAY_WINDOW", "TERMINAL_ID_RISK_1DAY_WINDOW", "TERMINAL_ID_NB_TX_7DAY_WINDOW", "TERMINAL_ID_RISK_7DAY_WINDOW",
		"TERMINAL_ID_NB_TX_30DAY_WINDOW", "TERMINAL_ID_RISK_30DAY_WINDOW"}
	x := []float64{57.16, 0, 1, 2, 57.16, 9, 51.3, 48, 49.87, 1, 0, 8, 0, 31, 0.032}
	at := time.Now().UTC()
	b.Run("hand", func(b *testing.B) {
		enc := NewEncoder(names)
		var buf []byte
		for b.Loop() {
			buf, _ = enc.AppendRecord(buf[:0], "1234567", "fraud", 3, "champion", at, x, 0.0123, "primary")
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			f := make(map[string]float64, len(names))
			for i, n := range names {
				f[n] = x[i]
			}
			_, _ = json.Marshal(Prediction{ID: "1234567", Model: "fraud", Version: 3, Alias: "champion", Time: at, Features: f, Score: 0.0123, Path: "primary"})
		}
	})
}
