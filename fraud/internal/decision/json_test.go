package decision

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

func TestAppendJSONIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ds := []Decision{
		{},
		{TransactionID: 1, Action: Approve, Score: 0.5, ModelVersion: 3, Path: PathModel, ServingPath: "primary"},
		{TransactionID: -7, Action: Decline, Score: 1e-7, Path: PathModel},
		{TransactionID: 9, Action: Review, Score: 1e21, Path: PathModel},
		{TransactionID: 9, Action: Review, Score: 123456789e-20, Path: PathModel},
		{TransactionID: 10, Action: Decline, Path: PathRules, Reason: `amount > 220 ("store down" <x>)`},
		{TransactionID: 11, Action: "odd\"action", Score: math.Inf(1)},
	}
	for range 2000 {
		ds = append(ds, Decision{TransactionID: r.Int64(), Action: Review, Score: r.Float64() * math.Pow(10, float64(r.IntN(40)-30)),
			ModelVersion: r.IntN(100), Path: PathModel, ServingPath: "last-good"})
	}
	for _, d := range ds {
		want, werr := json.Marshal(d)
		got, gerr := AppendJSON([]byte("x"), d)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("AppendJSON(%+v) error %v, json.Marshal error %v", d, gerr, werr)
		}
		if werr == nil && string(got[1:]) != string(want) {
			t.Fatalf("AppendJSON(%+v) = %s, want %s", d, got[1:], want)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	d := Decision{TransactionID: 1234567, Action: Review, Score: 0.0123456789, ModelVersion: 1, Path: PathModel, ServingPath: "primary"}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendJSON(buf[:0], d)
	}
}
