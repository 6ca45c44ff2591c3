package events

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// The hand-written batch encoding is byte for byte what encoding/json writes for the same
// auctions, so anything that reads the log with encoding/json reads the same values.
func TestAppendAuctionsMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	floats := []float64{0, 1, 0.5, 1e-7, 2.5e-9, 1e21, 123456.789, 0.000001, 1e20, math.SmallestNonzeroFloat64}
	strs := []string{"r1", "", "ads-pctr/v3", `a"b\c`, "<&>", "é", "\x01", "partial-scoring"}
	for i := range 300 {
		var as []Auction
		for range rng.IntN(4) {
			a := Auction{Request: strs[rng.IntN(len(strs))], Model: strs[rng.IntN(len(strs))], Level: strs[rng.IntN(len(strs))],
				Time: time.Unix(rng.Int64N(2e9), rng.Int64N(1e9)).In([]*time.Location{time.UTC, time.FixedZone("x", 3600)}[rng.IntN(2)])}
			if rng.IntN(5) > 0 {
				a.Winners = []Slot{}
				for range rng.IntN(3) {
					f := func() float64 {
						if rng.IntN(2) == 0 {
							return floats[rng.IntN(len(floats))]
						}
						return rng.Float64() * math.Pow(10, float64(rng.IntN(30)-15))
					}
					a.Winners = append(a.Winners, Slot{Slot: rng.IntN(3), Ad: rng.Int64(), Campaign: -rng.Int64N(100), PCTR: f(), Cost: f(), Reserved: rng.Uint64()})
				}
			}
			as = append(as, a)
		}
		want, err := json.Marshal(as)
		if err != nil {
			t.Fatal(err)
		}
		if as == nil {
			want = []byte("[]") // AppendAuctions writes an empty batch as an empty array
		}
		if got := AppendAuctions(nil, as); string(got) != string(want) {
			t.Fatalf("case %d: AppendAuctions =\n%s\nwant (encoding/json)\n%s", i, got, want)
		}
	}
}

func TestDecodeAuctions(t *testing.T) {
	as := []Auction{{Request: "r1", Time: time.Unix(1, 5).UTC(), Model: "m/v1", Level: "full", Winners: []Slot{{Slot: 0, Ad: 3, Campaign: 4, PCTR: 0.01, Cost: 0.002, Reserved: 9}}}}
	got, err := DecodeAuctions(AppendAuctions(nil, as))
	if err != nil || !reflect.DeepEqual(got, as) {
		t.Fatalf("DecodeAuctions(AppendAuctions(%+v)) = %+v, %v", as, got, err)
	}
	for _, bad := range []string{`{}`, `[{"request":""}]`, `[{"request":"r1","winners":[]}]`, `[`} {
		if _, err := DecodeAuctions([]byte(bad)); err == nil {
			t.Errorf("DecodeAuctions(%s) = nil error, want ErrInvalid", bad)
		}
	}
}
