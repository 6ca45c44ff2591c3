package openrtb

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fastCases are bodies the fast decoder must either decode as encoding/json does or hand
// over: every fixture, and each of the shapes it gives up on.
var fastCases = []string{
	req(``), req(`,"tmax":120,"at":1,"test":1,"cur":["USD"],"bcat":[],"badv":["a.com","b.com"]`),
	req(`,"ext":{"a":[1,{"b":null}],"c":"\u00e9\n","d":-1.5e-3,"e":true,"f":false}`),
	imps(`{"id":"1","banner":{"format":[{"w":1,"h":2},{"w":300,"h":250}],"pos":1},"bidfloor":1e-7,"bidfloorcur":"USD","secure":1,"ext":{}}`),
	imps(`{"id":"1","banner":{"format":[]},"bidfloor":-0}`),
	`{"id":"r1","app":{"id":"a","bundle":"b","cat":["IAB1"],"publisher":{"id":"p"},"ext":[]},"imp":[` + okImp + `]}`,
	req(`,"device":{"ua":"Mozilla/5.0 é","ip":"1.2.3.4","devicetype":4,"os":"iOS","geo":{"country":"USA","region":"CA","city":"x","lat":37.5,"lon":-122.25,"type":2},"ext":{"k":1}}`),
	req(`,"user":{"id":"u1","buyeruid":"b","yob":1980,"gender":"F","keywords":"k","geo":{},"data":[{"id":"d","name":"n","segment":[{"id":"s1","name":"x","value":"v"},{}]},{}],"ext":{}}`),
	req(`,"unknown":{"deep":[{"x":"\"\\\/\b\f\n\r\t\u0041"}]},"also":null,"n":12.5e+3`),
	// Shapes handed over to encoding/json:
	req(`,"ID":"r2"`), req(`,"Tmax":5`), req(`,"tmaX":5`), req(`,"tmax":1.0`), req(`,"tmax":1e2`), req(`,"tmax":"5"`),
	req(`,"tmax":99999999999999999999`), req(`,"device":null`), req(`,"id":"a\u0062"`), req(`,"id":"\xff"`),
	req(`,"id":"r1","id":"r2"`), req(`,"site":{"id":"s","id":"t"}`), req(`,"ext":{"a":}`), req(`,"ext":nul`),
	req(`,"user":{"data":[{"segment":{}}]}`), req(`,"device":{"geo":{"lat":"x"}}`), req(`,"device":{"geo":{"lat":1e999}}`),
	req(`,"ſite":{}`), req(`,"\u0069d":"x"`), `{"id":"r1"} {}`, `[]`, `null`, `{`, `{"id":"r1",}`, `{"id" "r1"}`,
	"\ufeff" + req(``), req(`,"ext":{"a":"` + "\x01" + `"}`), req(`,"ext":"\x"`), req(`,"ext":"\u12"`), req(`,"tmax":01`),
	req(`,"tmax":-`), req(`,"imp":[1]`), req(`,"imp":{}`), req(`,"ext":[1,]`), req(`,"bidfloor":.5`),
}

func TestDecodeFastMatchesJSON(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	cases := append([]string(nil), fastCases...)
	var fixtures int
	for _, name := range files {
		if strings.Contains(name, "golden") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, string(b))
		fixtures++
	}
	fast := 0
	for i, c := range cases {
		if checkFastAgainstJSON(t, []byte(c)) {
			fast++
		} else if i < 9 || i >= len(cases)-fixtures {
			// The first cases and every fixture are the shapes real traffic has.
			t.Errorf("decodeFast(%s) gave up, want it to decode this request itself", short(c))
		}
	}
	if fast == len(cases) {
		t.Errorf("decodeFast decoded all %d cases, want it to give up on the odd ones", len(cases))
	}
}

// checkFastAgainstJSON fails the test when decodeFast answers on data and disagrees with
// encoding/json; it reports whether decodeFast answered.
func checkFastAgainstJSON(t *testing.T, data []byte) bool {
	t.Helper()
	var got BidRequest
	if !decodeFast(data, &got) {
		return false
	}
	var want BidRequest
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("decodeFast(%q) accepted what encoding/json refuses: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("decodeFast(%q) =\n%s\nencoding/json:\n%s", data, g, w)
	}
	return true
}

// FuzzDecodeFast: whatever the body, when the fast decoder answers, encoding/json decodes
// the body to the same request.
func FuzzDecodeFast(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastAgainstJSON(t, data) })
}

var fastResponseCases = []string{
	`{"id":"r1","nbr":2}`, `{"id":"r1","nbr":0}`, `{"id":"r1","seatbid":[],"cur":"USD","bidid":"b","ext":{"model":"m/v1","degrade":"full"}}`,
	`{"id":"r1","seatbid":[{"bid":[{"id":"r1-0","impid":"1","price":93.89133093463604,"nurl":"n","burl":"b","lurl":"l","adm":"<a>","adid":"ad-272","adomain":["a.com"],"cid":"c-117","crid":"cr-272","w":320,"h":50,"ext":{"pctr":0.07797434132703628,"slot":0}}],"seat":"adv-30","ext":{}},{"bid":[]}],"cur":"USD"}` + "\n",
	// Handed over to encoding/json:
	`{"id":"r1","nbr":null}`, `{"id":"r1","NBR":2}`, `{"id":"r1","nbr":2.5}`, `{"id":"r1","seatbid":[{"bid":[{"price":"1"}]}]}`,
	`{"id":"r1","seatbid":[{"bid":null}]}`, `{"id":"r1"`, `{"id":"r1","id":"r2"}`, `{"id":"\u0072"}`,
}

func TestDecodeResponseFastMatchesJSON(t *testing.T) {
	fast := 0
	for i, c := range fastResponseCases {
		if checkResponseFastAgainstJSON(t, []byte(c)) {
			fast++
		} else if i < 4 {
			t.Errorf("decodeResponseFast(%s) gave up, want it to decode this response itself", c)
		}
	}
	if fast == len(fastResponseCases) {
		t.Errorf("decodeResponseFast decoded all %d cases, want it to give up on the odd ones", len(fastResponseCases))
	}
	// Whatever AppendResponse writes, the fast decoder reads back by itself.
	nbr := NoBidBelowFloor
	for _, r := range []BidResponse{{ID: "r", NBR: &nbr}, {ID: "r", Cur: "USD", SeatBid: []SeatBid{{Seat: "s", Bid: []Bid{{ID: "b", ImpID: "1", Price: 1e-7, W: 1, H: 2}}}}}} {
		body, err := AppendResponse(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		if !checkResponseFastAgainstJSON(t, body) {
			t.Errorf("decodeResponseFast(%s) gave up on what AppendResponse wrote", body)
		}
	}
}

func checkResponseFastAgainstJSON(t *testing.T, data []byte) bool {
	t.Helper()
	var got BidResponse
	if !decodeResponseFast(data, &got) {
		return false
	}
	var want BidResponse
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("decodeResponseFast(%q) accepted what encoding/json refuses: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeResponseFast(%q) = %+v, encoding/json %+v", data, got, want)
	}
	return true
}

// FuzzDecodeResponseFast: when the fast decoder answers, encoding/json agrees.
func FuzzDecodeResponseFast(f *testing.F) {
	for _, c := range fastResponseCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkResponseFastAgainstJSON(t, data) })
}
