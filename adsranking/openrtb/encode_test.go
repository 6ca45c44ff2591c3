package openrtb

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// AppendResponse writes what json.NewEncoder(w).Encode writes, byte for byte, on random
// responses that use every field, strings that need escaping, floats in both notations,
// and ext objects compact or not; and it fails where encoding/json fails.
func TestAppendResponseMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "r1", "ad-12", `q"uo\te`, "<b>&", "é", "\x7f", "\u2028"}
	exts := []string{"", `{"model":"m/v1","degrade":"full"}`, `{"pctr":0.0123,"slot":1}`, `{ "a" : [1, 2] }`, `{"h":"<x>"}`, `"é"`, `[]`}
	floats := []float64{0, 1.5, 1e-7, 3e21, 0.00123, 123456789, 2.5e-10}
	s := func() string { return strs[rng.IntN(len(strs))] }
	ext := func() json.RawMessage {
		if e := exts[rng.IntN(len(exts))]; e != "" {
			return json.RawMessage(e)
		}
		return nil
	}
	for i := range 500 {
		r := BidResponse{ID: s(), BidID: s(), Cur: s(), Ext: ext()}
		if rng.IntN(3) == 0 {
			nbr := NoBidReason(rng.IntN(600))
			r.NBR = &nbr
		}
		for range rng.IntN(3) {
			sb := SeatBid{Seat: s(), Ext: ext()}
			if rng.IntN(6) > 0 {
				sb.Bid = []Bid{}
			}
			for range rng.IntN(3) {
				b := Bid{ID: s(), ImpID: s(), Price: floats[rng.IntN(len(floats))] * (1 + rng.Float64()), NURL: s(), BURL: s(), LURL: s(), Adm: s(),
					AdID: s(), CID: s(), CrID: s(), W: rng.IntN(3) * 300, H: -rng.IntN(2) * 50, Ext: ext()}
				for range rng.IntN(3) {
					b.ADomain = append(b.ADomain, s())
				}
				sb.Bid = append(sb.Bid, b)
			}
			r.SeatBid = append(r.SeatBid, sb)
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(&r); err != nil {
			t.Fatal(err)
		}
		got, err := AppendResponse([]byte("prefix"), &r)
		if err != nil || string(got) != "prefix"+want.String() {
			t.Fatalf("case %d: AppendResponse = %q, %v\nwant (encoding/json) %q", i, got, err, want.String())
		}
	}
	for _, r := range []BidResponse{
		{ID: "r", SeatBid: []SeatBid{{Bid: []Bid{{ID: "b", ImpID: "1", Price: math.NaN()}}}}},
		{ID: "r", SeatBid: []SeatBid{{Bid: []Bid{{ID: "b", ImpID: "1", Price: math.Inf(1)}}}}},
		{ID: "r", Ext: json.RawMessage(`{"a":`)},
		{ID: "r", SeatBid: []SeatBid{{Bid: []Bid{{ID: "b", ImpID: "1", Ext: json.RawMessage(`nope`)}}}}},
	} {
		_, jerr := json.Marshal(&r)
		got, err := AppendResponse([]byte("x"), &r)
		if jerr == nil || err == nil || string(got) != "x" {
			t.Errorf("AppendResponse(%+v) = %q, %v; want an error (encoding/json: %v) and dst unchanged", r, got, err, jerr)
		}
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	nbr := NoBidBelowFloor
	rs := map[string]BidResponse{
		"bid": {ID: "r00000000000000000001", Cur: "USD", Ext: json.RawMessage(`{"model":"ads-pctr/v1","degrade":"full"}`), SeatBid: []SeatBid{
			{Seat: "adv-12", Bid: []Bid{{ID: "r1-0", ImpID: "1", Price: 1.2345, AdID: "ad-1", CrID: "cr-1", CID: "c-1", W: 300, H: 250, Ext: json.RawMessage(`{"pctr":0.0123,"slot":0}`)}}},
			{Seat: "adv-99", Bid: []Bid{{ID: "r1-1", ImpID: "2", Price: 0.75, AdID: "ad-2", CrID: "cr-2", CID: "c-2", W: 728, H: 90, Ext: json.RawMessage(`{"pctr":0.0101,"slot":1}`)}}}}},
		"nobid": {ID: "r00000000000000000001", NBR: &nbr},
	}
	for name, r := range rs {
		b.Run(name+"/encoding-json", func(b *testing.B) {
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				_ = json.NewEncoder(&buf).Encode(&r)
			}
		})
		b.Run(name+"/append", func(b *testing.B) {
			var dst []byte
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = AppendResponse(dst[:0], &r)
			}
		})
	}
}
