package openrtb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fullResponse sets every field of the response subset, so the golden file shows every
// JSON name.
func fullResponse() BidResponse {
	return BidResponse{
		ID:    "80ce30c53c16e6ede735f123ef6e32361bfc7b22",
		BidID: "bid-resp-1",
		Cur:   "USD",
		SeatBid: []SeatBid{{
			Seat: "advertiser-42",
			Bid: []Bid{{
				ID:      "b-1",
				ImpID:   "1",
				Price:   1.2345,
				NURL:    "https://bidder.example/win?price=${AUCTION_PRICE}",
				BURL:    "https://bidder.example/bill?price=${AUCTION_PRICE}",
				LURL:    "https://bidder.example/loss?reason=${AUCTION_LOSS}",
				Adm:     `<a href="https://ad.example/c"><img src="https://ad.example/i.png"></a>`,
				AdID:    "ad-7",
				ADomain: []string{"advertiser.example"},
				CID:     "campaign-3",
				CrID:    "creative-9",
				W:       300,
				H:       250,
				Ext:     json.RawMessage(`{"pctr":0.0123}`),
			}},
			Ext: json.RawMessage(`{}`),
		}},
		Ext: json.RawMessage(`{"latency_ms":4}`),
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Marshal = %s\nwant (%s) %s", got, path, want)
	}
}

func indent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestResponseGolden(t *testing.T) {
	golden(t, "response.golden.json", indent(t, fullResponse()))
	golden(t, "nobid.golden.json", indent(t, NoBid("req-1", NoBidBelowFloor)))
	// Code 0 is a real reason and must be sent, not dropped as a zero value.
	golden(t, "nobid-unknown.golden.json", indent(t, NoBid("req-2", NoBidUnknownError)))
}

// TestResponseFieldNames pins the JSON names to the spec independently of the golden
// file, which -update would rewrite without complaint.
func TestResponseFieldNames(t *testing.T) {
	b, err := json.Marshal(fullResponse())
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	var seat []map[string]json.RawMessage
	var bid []map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(top["seatbid"], &seat)
	_ = json.Unmarshal(seat[0]["bid"], &bid)
	tests := []struct {
		object string
		got    map[string]json.RawMessage
		want   string
	}{
		{"BidResponse", top, "bidid cur ext id seatbid"},
		{"SeatBid", seat[0], "bid ext seat"},
		{"Bid", bid[0], "adid adm adomain burl cid crid ext h id impid lurl nurl price w"},
	}
	for _, tt := range tests {
		var keys []string
		for k := range tt.got {
			keys = append(keys, k)
		}
		if got := strings.Join(sorted(keys), " "); got != tt.want {
			t.Errorf("Marshal(%s) keys = %s, want %s", tt.object, got, tt.want)
		}
	}
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestResponseRoundTrip(t *testing.T) {
	for _, resp := range []BidResponse{fullResponse(), NoBid("r", NoBidDeadlineExceeded), NoBid("r", NoBidUnknownError)} {
		b, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeResponse(bytes.NewReader(b), 0)
		if err != nil {
			t.Errorf("DecodeResponse(%s) = %v", b, err)
			continue
		}
		b2, _ := json.Marshal(got)
		if !bytes.Equal(b, b2) {
			t.Errorf("DecodeResponse(%s) re-marshals to %s", b, b2)
		}
		gr, gok := got.Reason()
		wr, wok := resp.Reason()
		if gr != wr || gok != wok || got.Bids() != resp.Bids() {
			t.Errorf("DecodeResponse(%s) = reason %v %v, %d bids, want %v %v, %d", b, gr, gok, got.Bids(), wr, wok, resp.Bids())
		}
	}
}

func TestResponseValidate(t *testing.T) {
	const inv = "openrtb: invalid bid response: "
	tests := []struct {
		body string
		want string // "" for valid
	}{
		{`{"id":"r"}`, ""}, // the minimal no-bid
		{`{"id":"r","nbr":2}`, ""},
		{`{"id":"r","seatbid":[{"bid":[{"id":"b","impid":"1","price":0}]}]}`, ""},
		{`{"seatbid":[]}`, inv + "id: empty, want the request's id"},
		{`{"id":"r","seatbid":[{"bid":[]}]}`, inv + "seatbid[0]: no bids, want at least one (leave the seat out instead)"},
		{`{"id":"r","seatbid":[{"bid":[{"impid":"1","price":1}]}]}`, inv + "seatbid[0].bid[0].id: empty"},
		{`{"id":"r","seatbid":[{"bid":[{"id":"b","impid":"1","price":1}]},{"bid":[{"id":"c","price":1}]}]}`, inv + "seatbid[1].bid[0].impid: empty"},
		{`{"id":"r","seatbid":[{"bid":[{"id":"b","impid":"1","price":-1}]}]}`, inv + "seatbid[0].bid[0].price: -1, want a finite number ≥ 0"},
		{`{"id":"r","seatbid":[{"bid":[{"id":"b","impid":"1","price":1,"w":-1}]}]}`, inv + "seatbid[0].bid[0].w: -1×0, want non-negative"},
		{`{"id":"r","nbr":501,"seatbid":[{"bid":[{"id":"b","impid":"1","price":1}]}]}`, inv + "nbr: 501 (all bids below floor) given with 1 bids, want one or the other"},
		{`{"id":"r","seatbid":[{"bid":[{"id":"b","impid":"1","price":"1"}]}]}`, inv + "seatbid.bid.price: got JSON string, want number (line 1, column 62 (byte 61))"},
	}
	for _, tt := range tests {
		_, err := DecodeResponse(strings.NewReader(tt.body), 0)
		if tt.want == "" {
			if err != nil {
				t.Errorf("DecodeResponse(%q) = %v, want a response", tt.body, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidResponse) || err.Error() != tt.want {
			t.Errorf("DecodeResponse(%q) = %v, want %v", tt.body, err, tt.want)
		}
	}
	nan := BidResponse{ID: "r", SeatBid: []SeatBid{{Bid: []Bid{{ID: "b", ImpID: "1", Price: math.NaN()}}}}}
	if err := nan.Validate(); !errors.Is(err, ErrInvalidResponse) {
		t.Errorf("Validate(price NaN) = %v, want ErrInvalidResponse", err)
	}
	if _, err := DecodeResponse(strings.NewReader(`{"id":"r"} {}`), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("DecodeResponse(trailing object) = %v, want ErrMalformed", err)
	}
}

func TestCheckAgainst(t *testing.T) {
	req, err := DecodeBytes(fixture(t, "full.json")) // imps "1" (floor 0.35) and "2" (0.1)
	if err != nil {
		t.Fatal(err)
	}
	const inv = "openrtb: invalid bid response: "
	bid := func(impid string, price float64) BidResponse {
		return BidResponse{ID: req.ID, SeatBid: []SeatBid{{Bid: []Bid{{ID: "b", ImpID: impid, Price: price}}}}}
	}
	other := bid("1", 1)
	other.ID = "other"
	eur := bid("1", 1)
	eur.Cur = "EUR"
	tests := []struct {
		name string
		resp BidResponse
		want string
	}{
		{"at the floor", bid("1", 0.35), ""},
		{"second imp", bid("2", 0.2), ""},
		{"no-bid", NoBid(req.ID, NoBidNoCandidates), ""},
		{"wrong id", other, inv + `id: "other", want the request's "80ce30c53c16e6ede735f123ef6e32361bfc7b22"`},
		{"unknown imp", bid("3", 1), inv + `seatbid[0].bid[0].impid: "3" is not an impression of the request`},
		{"below floor", bid("1", 0.34), inv + "seatbid[0].bid[0].price: 0.34, below imp[0].bidfloor 0.35"},
		{"currency", eur, inv + `cur: "EUR", want USD`},
	}
	for _, tt := range tests {
		err := tt.resp.CheckAgainst(req)
		if (tt.want == "" && err != nil) || (tt.want != "" && (err == nil || err.Error() != tt.want)) {
			t.Errorf("%s: CheckAgainst() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestNoBidReasonString(t *testing.T) {
	tests := []struct {
		r    NoBidReason
		want string
	}{
		{NoBidUnknownError, "unknown error"},
		{NoBidTechnicalError, "technical error"},
		{NoBidInvalidRequest, "invalid request"},
		{NoBidWebCrawler, "known web crawler"},
		{NoBidNonHumanTraffic, "suspected non-human traffic"},
		{NoBidProxyIP, "cloud, data center or proxy IP"},
		{NoBidUnsupportedDevice, "unsupported device"},
		{NoBidBlockedPublisher, "blocked publisher or site"},
		{NoBidUnmatchedUser, "unmatched user"},
		{NoBidDailyUserCap, "daily user cap met"},
		{NoBidDailyDomainCap, "daily domain cap met"},
		{NoBidAdsTxtUnavailable, "ads.txt authorization unavailable"},
		{NoBidAdsTxtViolation, "ads.txt authorization violation"},
		{NoBidAdsCertUnavailable, "ads.cert authentication unavailable"},
		{NoBidAdsCertViolation, "ads.cert authentication violation"},
		{NoBidInsufficientTime, "insufficient auction time"},
		{NoBidIncompleteSupplyChain, "incomplete supply chain"},
		{NoBidBlockedSupplyChainNode, "blocked supply chain node"},
		{NoBidNoCandidates, "no eligible candidates"},
		{NoBidBelowFloor, "all bids below floor"},
		{NoBidBudgetExhausted, "budgets exhausted"},
		{NoBidPacedOut, "paced out"},
		{NoBidDeadlineExceeded, "deadline exceeded"},
		{18, "no-bid reason 18"},
		{-1, "no-bid reason -1"},
		{499, "no-bid reason 499"},
		{505, "exchange-specific reason 505"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("NoBidReason(%d).String() = %q, want %q", int(tt.r), got, tt.want)
		}
	}
	// The numbers are the wire format: pin them, not just the names.
	codes := []struct {
		r    NoBidReason
		want int
	}{
		{NoBidUnknownError, 0}, {NoBidInvalidRequest, 2}, {NoBidWebCrawler, 3}, {NoBidProxyIP, 5},
		{NoBidBlockedPublisher, 7}, {NoBidDailyUserCap, 9}, {NoBidDailyDomainCap, 10},
		{NoBidInsufficientTime, 15}, {NoBidBlockedSupplyChainNode, 17},
		{NoBidNoCandidates, 500}, {NoBidBelowFloor, 501}, {NoBidBudgetExhausted, 502},
		{NoBidPacedOut, 503}, {NoBidDeadlineExceeded, 504},
	}
	for _, c := range codes {
		if int(c.r) != c.want {
			t.Errorf("%v = %d, want %d", c.r, int(c.r), c.want)
		}
		if c.r.ExchangeSpecific() != (c.want >= 500) {
			t.Errorf("%v.ExchangeSpecific() = %v, want %v", c.r, c.r.ExchangeSpecific(), c.want >= 500)
		}
	}
	// nbr is an integer on the wire, not the String() name.
	b, _ := json.Marshal(NoBid("x", NoBidPacedOut))
	if string(b) != `{"id":"x","nbr":503}` {
		t.Errorf("Marshal(NoBid(x, NoBidPacedOut)) = %s, want {\"id\":\"x\",\"nbr\":503}", b)
	}
}

func TestReasonFor(t *testing.T) {
	_, invalidErr := DecodeBytes([]byte(`{}`))
	tests := []struct {
		err  error
		want NoBidReason
	}{
		{invalidErr, NoBidInvalidRequest},
		{fmt.Errorf("%w: x", ErrMalformed), NoBidInvalidRequest},
		{ErrTooLarge, NoBidInvalidRequest},
		{ErrRead, NoBidInvalidRequest},
		{fmt.Errorf("scoring: %w", context.DeadlineExceeded), NoBidDeadlineExceeded},
		{errors.New("feature store down"), NoBidTechnicalError},
	}
	for _, tt := range tests {
		if got := ReasonFor(tt.err); got != tt.want {
			t.Errorf("ReasonFor(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestRequestGolden pins the request's JSON names on output. Decoding alone cannot:
// encoding/json matches keys case-insensitively, so a tag spelled "bidFloor" would still
// read "bidfloor" and only the load generator's requests would carry the wrong name.
func TestRequestGolden(t *testing.T) {
	r, err := DecodeBytes(fixture(t, "full.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "full.golden.json", indent(t, r))
}
