package openrtb

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

const okImp = `{"id":"1","banner":{"w":300,"h":250}}`

// req is a valid request with fields appended. encoding/json keeps the last of repeated
// keys, so req(`,"id":""`) replaces the valid id: each case states only what it breaks.
// Arrays of objects are the exception (a repeated key decodes into the elements already
// there, merging them), so impressions are replaced with imps instead.
func req(fields string) string {
	return `{"id":"r1","site":{"id":"s1"},"imp":[` + okImp + `]` + fields + `}`
}

// nImps is n valid impressions with distinct ids.
func nImps(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"` + strconv.Itoa(i) + `","banner":{"w":1,"h":1}}`)
	}
	return b.String()
}

// imps is a valid request whose impressions are the given JSON list.
func imps(list string) string {
	return `{"id":"r1","site":{"id":"s1"},"imp":[` + list + `]}`
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// short keeps huge generated bodies out of failure messages.
func short(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

func TestDecodeFixtures(t *testing.T) {
	for _, name := range []string{"minimal.json", "full.json", "app.json", "typical.json"} {
		body := fixture(t, name)
		r, err := Decode(bytes.NewReader(body), 0)
		if err != nil {
			t.Errorf("Decode(%s) = %v, want a request", name, err)
			continue
		}
		if r.ID == "" || len(r.Imp) == 0 || (r.Site == nil) == (r.App == nil) {
			t.Errorf("Decode(%s) = %+v: id, imp or site/app lost", name, r)
		}
	}
}

// TestDecodeFull checks that every field of the subset lands where it should: a wrong
// JSON tag would decode to a zero value without any error.
func TestDecodeFull(t *testing.T) {
	r, err := Decode(bytes.NewReader(fixture(t, "full.json")), 0)
	if err != nil {
		t.Fatal(err)
	}
	imp := r.Imp[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", r.ID, "80ce30c53c16e6ede735f123ef6e32361bfc7b22"},
		{"imps", len(r.Imp), 2},
		{"imp.banner.format", len(imp.Banner.Format), 2},
		{"imp.banner.format[1]", imp.Banner.Format[1], Format{320, 50}},
		{"imp.banner.w×h", [2]int{imp.Banner.W, imp.Banner.H}, [2]int{300, 250}},
		{"imp.banner.pos", imp.Banner.Pos, 1},
		{"imp.tagid", imp.TagID, "home-top"},
		{"imp.bidfloor", imp.BidFloor, 0.35},
		{"imp.bidfloorcur", imp.BidFloorCur, "USD"},
		{"imp.secure", imp.Secure, 1},
		{"imp.ext", compact(t, imp.Ext), `{"gpid":"/1234/home/top"}`},
		{"site.domain", r.Site.Domain, "www.foobar.com"},
		{"site.page", r.Site.Page, "https://www.foobar.com/1234.html"},
		{"site.cat", r.Site.Cat[0], "IAB3-1"},
		{"site.publisher.id", r.Site.Publisher.ID, "8953"},
		{"device.ip", r.Device.IP, "203.0.113.7"},
		{"device.devicetype", r.Device.DeviceType, 2},
		{"device.os", r.Device.OS, "macOS"},
		{"device.geo", *r.Device.Geo, Geo{Country: "USA", Region: "CA", City: "San Francisco", Lat: 37.77, Lon: -122.42, Type: 2}},
		{"user.buyeruid", r.User.BuyerUID, "545678765467876567898765678987654"},
		{"user.yob", r.User.YOB, 1984},
		{"user.gender", r.User.Gender, "F"},
		{"user.keywords", r.User.Keywords, "cyclisme,vélo,自転車,🚲"},
		{"user.geo.country", r.User.Geo.Country, "FRA"},
		{"user.data[0].segment[1]", r.User.Data[0].Segment[1], Segment{ID: "21", Name: "sports", Value: "0.9"}},
		{"at", r.AT, 1},
		{"tmax", r.Tmax, 120},
		{"cur", strings.Join(r.Cur, ","), "USD,EUR"},
		{"bcat", strings.Join(r.BCat, ","), "IAB25,IAB26"},
		{"badv", strings.Join(r.BAdv, ","), "company1.com,company2.com"},
		{"ext", compact(t, r.Ext), `{"exchange":"test"}`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Decode(full.json).%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func compact(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact(%q): %v", raw, err)
	}
	return b.String()
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		body  string
		check func(*BidRequest) bool
	}{
		{req(``), nil},
		{req(`,"site":{}`), nil}, // an empty site still says "this is a website"
		{req(`,"site":null,"app":{"bundle":"com.x"}`), nil},
		{imps(`{"id":"1","banner":{"format":[{"w":1,"h":10000}]}}`), nil},
		{imps(`{"id":"1","banner":{"w":300,"h":250},"bidfloor":0}`), nil},
		{req(`,"tmax":0,"at":0,"test":1`), func(r *BidRequest) bool { return r.AuctionType() == AuctionSecondPrice }},
		{req(`,"at":1,"tmax":5000`), func(r *BidRequest) bool { return r.AuctionType() == AuctionFirstPrice }},
		{req(`,"cur":["EUR","USD"]`), nil},
		{req(`,"ext":null`), nil},
		{req(`,"unknown":{"deeply":[{"nested":[1,2,3]}]},"imp":[{"id":"1","banner":{"w":1,"h":1,"future":true}}]`), nil},
		{req(`,"device":{"devicetype":99,"geo":{"type":500}}`), nil}, // extensible lists
		{req(`,"ID":"upper"`), func(r *BidRequest) bool { return r.ID == "upper" }},
		// Unicode: escapes, surrogate pairs, raw multi-byte text.
		{req(`,"id":"caf\u00e9 \ud83d\ude80 ☕"`), func(r *BidRequest) bool { return r.ID == "café 🚀 ☕" }},
		// Invalid UTF-8 is replaced, not refused, as encoding/json does.
		{req(`,"user":{"keywords":"a` + "\xff" + `b"}`), func(r *BidRequest) bool { return r.User.Keywords == "a\uFFFDb" }},
		{"\n\t " + req(``) + "\n\n", nil}, // whitespace around the object is not garbage
		{imps(nImps(MaxImps)), nil},
	}
	for _, tt := range tests {
		r, err := Decode(strings.NewReader(tt.body), 0)
		if err != nil {
			t.Errorf("Decode(%q) = %v, want a request", short(tt.body), err)
			continue
		}
		if tt.check != nil && !tt.check(r) {
			t.Errorf("Decode(%q) = %+v, which fails the case's check", short(tt.body), r)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	const inv = "openrtb: invalid bid request: "
	many := func(n int, item string) string {
		return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
	}
	tests := []struct {
		name string
		body string
		want error
		msg  string // the whole message for ErrInvalid, a substring for ErrMalformed
	}{
		// Validation, one rule at a time.
		{"no id", `{"imp":[` + okImp + `],"site":{}}`, ErrInvalid, inv + "id: empty, want an id"},
		{"long id", req(`,"id":"` + strings.Repeat("x", MaxIDLen+1) + `"`), ErrInvalid, inv + "id: 257 bytes, want ≤ 256"},
		{"null", `null`, ErrInvalid, inv + "id: empty, want an id"},
		{"no imp", imps(``), ErrInvalid, inv + "imp: 0 impressions, want 1..16"},
		{"null imp", req(`,"imp":null`), ErrInvalid, inv + "imp: 0 impressions, want 1..16"},
		{"17 imps", imps(nImps(17)), ErrInvalid, inv + "imp: 17 impressions, want 1..16"},
		{"1000 imps", imps(nImps(1000)), ErrInvalid, inv + "imp: 1000 impressions, want 1..16"},
		{"imp id", imps(`{"banner":{"w":1,"h":1}}`), ErrInvalid, inv + "imp[0].id: empty, want the impression's id"},
		{"dup imp id", imps(okImp + `,{"id":"2","banner":{"w":1,"h":1}},` + okImp), ErrInvalid, inv + `imp[2].id: "1" repeats imp[0].id, want ids unique within the request`},
		{"no banner", imps(`{"id":"1","video":{}}`), ErrInvalid, inv + "imp[0].banner: absent, want a banner: this bidder serves banner impressions only"},
		{"no size", imps(`{"id":"1","banner":{}}`), ErrInvalid, inv + "imp[0].banner: no size, want w and h or at least one format"},
		{"w only", imps(`{"id":"1","banner":{"w":300}}`), ErrInvalid, inv + "imp[0].banner: w×h 300×0, want both in 1..10000 (or neither, with formats)"},
		{"negative w", imps(`{"id":"1","banner":{"w":-300,"h":250}}`), ErrInvalid, inv + "imp[0].banner: w×h -300×250, want both in 1..10000 (or neither, with formats)"},
		{"zero format", imps(`{"id":"1","banner":{"format":[{"w":300,"h":250},{"w":0,"h":50}]}}`), ErrInvalid, inv + "imp[0].banner.format[1]: 0×50, want w and h in 1..10000"},
		{"huge format", imps(`{"id":"1","banner":{"format":[{"w":300,"h":10001}]}}`), ErrInvalid, inv + "imp[0].banner.format[0]: 300×10001, want w and h in 1..10000"},
		{"33 formats", imps(`{"id":"1","banner":{"format":[` + many(33, `{"w":1,"h":1}`) + `]}}`), ErrInvalid, inv + "imp[0].banner.format: 33 sizes, want ≤ 32"},
		{"negative pos", imps(`{"id":"1","banner":{"w":1,"h":1,"pos":-1}}`), ErrInvalid, inv + "imp[0].banner.pos: -1, want ≥ 0"},
		{"negative floor", imps(okImp + `,{"id":"2","banner":{"w":1,"h":1},"bidfloor":-0.5}`), ErrInvalid, inv + "imp[1].bidfloor: -0.5, want ≥ 0"},
		{"floor in EUR", imps(`{"id":"1","banner":{"w":1,"h":1},"bidfloorcur":"EUR"}`), ErrInvalid, inv + `imp[0].bidfloorcur: "EUR", want USD or absent: this bidder prices in USD only`},
		{"long tagid", imps(`{"id":"1","banner":{"w":1,"h":1},"tagid":"` + strings.Repeat("t", 257) + `"}`), ErrInvalid, inv + "imp[0].tagid: 257 bytes, want ≤ 256"},
		{"secure 2", imps(`{"id":"1","banner":{"w":1,"h":1},"secure":2}`), ErrInvalid, inv + "imp[0].secure: 2, want 0 or 1"},
		{"imp ext", imps(`{"id":"1","banner":{"w":1,"h":1},"ext":"x"}`), ErrInvalid, inv + `imp[0].ext: "x", want an object`},
		{"neither site nor app", req(`,"site":null`), ErrInvalid, inv + "site: absent and so is app, want exactly one of them"},
		{"site and app", req(`,"app":{"id":"a"}`), ErrInvalid, inv + "app: present and so is site, want exactly one of them"},
		{"long page", req(`,"site":{"page":"https://x/` + strings.Repeat("p", MaxStringLen) + `"}`), ErrInvalid, inv + "site.page: 4106 bytes, want ≤ 4096"},
		{"empty cat", req(`,"site":{"cat":["IAB1",""]}`), ErrInvalid, inv + "site.cat[1]: 0 bytes, want 1..256"},
		{"long publisher", req(`,"site":null,"app":{"publisher":{"id":"` + strings.Repeat("p", 300) + `"}}`), ErrInvalid, inv + "app.publisher.id: 300 bytes, want ≤ 256"},
		{"app ext", req(`,"site":null,"app":{"ext":[1]}`), ErrInvalid, inv + "app.ext: [1], want an object"},
		{"country alpha-2", req(`,"device":{"geo":{"country":"US"}}`), ErrInvalid, inv + `device.geo.country: "US", want an ISO-3166-1 alpha-3 code such as "USA"`},
		{"country lowercase", req(`,"user":{"geo":{"country":"usa"}}`), ErrInvalid, inv + `user.geo.country: "usa", want an ISO-3166-1 alpha-3 code such as "USA"`},
		{"lat", req(`,"device":{"geo":{"lat":91}}`), ErrInvalid, inv + "device.geo.lat: 91, want -90..90"},
		{"lon", req(`,"device":{"geo":{"lon":-180.5}}`), ErrInvalid, inv + "device.geo.lon: -180.5, want -180..180"},
		{"ip", req(`,"device":{"ip":"not-an-ip"}`), ErrInvalid, inv + `device.ip: "not-an-ip", want an IPv4 address`},
		{"ipv6 in ip", req(`,"device":{"ip":"2001:db8::1"}`), ErrInvalid, inv + `device.ip: "2001:db8::1", want an IPv4 address`},
		{"devicetype", req(`,"device":{"devicetype":-1}`), ErrInvalid, inv + "device.devicetype: -1, want ≥ 0"},
		{"long ua", req(`,"device":{"ua":"` + strings.Repeat("u", 5000) + `"}`), ErrInvalid, inv + "device.ua: 5000 bytes, want ≤ 4096"},
		{"yob", req(`,"user":{"yob":84}`), ErrInvalid, inv + "user.yob: 84, want a four-digit year 1900..2100"},
		{"gender", req(`,"user":{"gender":"male"}`), ErrInvalid, inv + `user.gender: "male", want M, F or O`},
		{"long buyeruid", req(`,"user":{"buyeruid":"` + strings.Repeat("b", 257) + `"}`), ErrInvalid, inv + "user.buyeruid: 257 bytes, want ≤ 256"},
		{"segments", req(`,"user":{"data":[{"segment":[` + many(129, `{"id":"1"}`) + `]}]}`), ErrInvalid, inv + "user.data[0].segment: 129 entries, want ≤ 128"},
		{"long segment", req(`,"user":{"data":[{},{"segment":[{},{"value":"` + strings.Repeat("v", 257) + `"}]}]}`), ErrInvalid, inv + "user.data[1].segment[1]: id, name or value longer than 256 bytes"},
		{"test 2", req(`,"test":2`), ErrInvalid, inv + "test: 2, want 0 or 1"},
		{"at 3", req(`,"at":3`), ErrInvalid, inv + "at: 3, want 1 (first price) or 2 (second price); absent means 2"},
		{"at 500", req(`,"at":500`), ErrInvalid, inv + "at: 500, want 1 (first price) or 2 (second price); absent means 2"},
		{"negative tmax", req(`,"tmax":-1`), ErrInvalid, inv + "tmax: -1, want 0..5000 ms (0 or absent means the bidder's default)"},
		{"huge tmax", req(`,"tmax":60000`), ErrInvalid, inv + "tmax: 60000, want 0..5000 ms (0 or absent means the bidder's default)"},
		{"cur without USD", req(`,"cur":["EUR","GBP"]`), ErrInvalid, inv + `cur: ["EUR" "GBP"], want a list that includes USD: this bidder prices in USD only`},
		{"cur not a code", req(`,"cur":["DOLLARS"]`), ErrInvalid, inv + "cur[0]: 7 bytes, want 1..3"},
		{"10000 bcat", req(`,"bcat":[` + many(10000, `"IAB1"`) + `]`), ErrInvalid, inv + "bcat: 10000 entries, want ≤ 128"},
		{"ext array", req(`,"ext":[1, 2]`), ErrInvalid, inv + "ext: [1, 2], want an object"},
		{"ext number", req(`,"ext":5`), ErrInvalid, inv + "ext: 5, want an object"},

		// Wrong JSON types name the field.
		{"floor as string", imps(`{"id":"1","banner":{"w":1,"h":1},"bidfloor":"0.5"}`), ErrInvalid, inv + "imp.bidfloor: got JSON string, want number (line 1, column 86 (byte 85))"},
		{"fractional width", imps(`{"id":"1","banner":{"w":1.5,"h":1}}`), ErrInvalid, inv + "imp.banner.w: got JSON number 1.5, want integer in range (line 1, column 64 (byte 63))"},
		{"overflowing width", imps(`{"id":"1","banner":{"format":[{"w":1e30,"h":1}]}}`), ErrInvalid, inv + "imp.banner.format.w: got JSON number 1e30, want integer in range (line 1, column 76 (byte 75))"},
		{"overflowing floor", imps(`{"id":"1","banner":{"w":1,"h":1},"bidfloor":1e400}`), ErrInvalid, inv + "imp.bidfloor: got JSON number 1e400, want number in range (line 1, column 86 (byte 85))"},
		{"numeric id", `{"id":42,"imp":[` + okImp + `],"site":{}}`, ErrInvalid, inv + "id: got JSON number, want string (line 1, column 8 (byte 7))"},
		{"imp object", req(`,"imp":{"id":"1"}`), ErrInvalid, inv + "imp: got JSON object, want array (line 1, column 83 (byte 82))"},
		{"site string", req(`,"site":"example.com"`), ErrInvalid, inv + "site: got JSON string, want object (line 1, column 96 (byte 95))"},
		{"test bool", req(`,"test":true`), ErrInvalid, inv + "test: got JSON bool, want integer (line 1, column 87 (byte 86))"},
		{"top-level array", `[{"id":"r1"}]`, ErrInvalid, inv + "(top level): got JSON array, want object (line 1, column 1 (byte 0))"},
		{"top-level string", `"hello"`, ErrInvalid, inv + "(top level): got JSON string, want object (line 1, column 7 (byte 6))"},

		// Not JSON at all, or not one value.
		{"empty", ``, ErrMalformed, "openrtb: malformed JSON: empty body"},
		{"blank", " \n\t ", ErrMalformed, "openrtb: malformed JSON: empty body"},
		{"truncated", `{"id":"r1","imp":[{"id":"1",`, ErrMalformed, "unexpected end of JSON input at byte 28 (truncated?)"},
		{"truncated string", `{"id":"r1`, ErrMalformed, "unexpected end of JSON input"},
		{"trailing garbage", req(``) + ` x`, ErrMalformed, "line 1, column 78 (byte 77): invalid character 'x' after top-level value"},
		{"two objects", req(``) + req(``), ErrMalformed, "invalid character '{' after top-level value"},
		{"position", "{\"id\":\"r1\",\n  \"imp\": ]}", ErrMalformed, "line 2, column 10 (byte 21): invalid character ']' looking for beginning of value"},
		{"NaN", imps(`{"id":"1","banner":{"w":1,"h":1},"bidfloor":NaN}`), ErrMalformed, "invalid character 'N' looking for beginning of value"},
		{"Infinity", imps(`{"id":"1","banner":{"w":1,"h":1},"bidfloor":-Infinity}`), ErrMalformed, "invalid character 'I' in numeric literal"},
		{"single quotes", `{'id':'r1'}`, ErrMalformed, "invalid character '\\'' looking for beginning of object key string"},
		{"deep nesting", req(`,"ext":{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`), ErrMalformed, "exceeded max depth"},
		{"control char", "{\"id\":\"r\x011\"}", ErrMalformed, "invalid character '\\x01' in string literal"},
	}
	for _, tt := range tests {
		r, err := Decode(strings.NewReader(tt.body), 1<<20)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Decode(%q) = %v, %v, want %v", tt.name, short(tt.body), r, err, tt.want)
			continue
		}
		if r != nil {
			t.Errorf("%s: Decode(%q) returned a request with error %v", tt.name, short(tt.body), err)
		}
		// Our own messages are pinned whole; encoding/json's wording only in part.
		got := err.Error()
		if tt.want == ErrInvalid {
			if got != tt.msg {
				t.Errorf("%s: Decode(%q) = %q, want %q", tt.name, short(tt.body), got, tt.msg)
			}
		} else if !strings.Contains(got, tt.msg) {
			t.Errorf("%s: Decode(%q) = %q, want it to contain %q", tt.name, short(tt.body), got, tt.msg)
		}
		if s := StatusFor(err); s != http.StatusBadRequest {
			t.Errorf("%s: StatusFor(%v) = %d, want 400", tt.name, err, s)
		}
		var fe *FieldError
		if errors.As(err, &fe) != (tt.want == ErrInvalid) {
			t.Errorf("%s: Decode(%q) = %v: a FieldError exactly when the request is invalid", tt.name, short(tt.body), err)
		}
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	body := req(``)
	n := int64(len(body))
	tests := []struct {
		name string
		r    io.Reader
		max  int64
		want error
	}{
		{"exactly the limit", strings.NewReader(body), n, nil},
		{"one byte over", strings.NewReader(body), n - 1, ErrTooLarge},
		{"far over", strings.NewReader(body + strings.Repeat(" ", 1<<20)), 1 << 10, ErrTooLarge},
		{"default limit", strings.NewReader(body + strings.Repeat(" ", DefaultMaxBytes)), 0, ErrTooLarge},
		{"default limit fits", strings.NewReader(body), -1, nil},
		{"no practical limit", strings.NewReader(body), math.MaxInt64, nil},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(fixture(t, "full.json"))), 4096, nil},
		{"data with EOF", iotest.DataErrReader(strings.NewReader(body)), n, nil},
		{"MaxBytesReader first", http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(body)), 10), 1 << 20, ErrTooLarge},
		{"reader fails", io.MultiReader(strings.NewReader(body[:10]), iotest.ErrReader(io.ErrUnexpectedEOF)), 1 << 20, ErrRead},
		{"timeout", iotest.TimeoutReader(strings.NewReader(body)), 1 << 20, ErrRead},
	}
	for _, tt := range tests {
		r, err := Decode(tt.r, tt.max)
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: Decode(body, %d) = %v, want a request", tt.name, tt.max, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) || r != nil {
			t.Errorf("%s: Decode(body, %d) = %v, %v, want %v", tt.name, tt.max, r, err, tt.want)
		}
	}
	_, err := Decode(strings.NewReader(body), n-1)
	if s := StatusFor(err); s != http.StatusRequestEntityTooLarge {
		t.Errorf("StatusFor(%v) = %d, want 413", err, s)
	}
}

// TestDecodeStopsReadingAtTheLimit checks that an oversized body is not read to its end:
// a client streaming an endless body must not cost more than the limit.
func TestDecodeStopsReadingAtTheLimit(t *testing.T) {
	cr := &countingReader{r: endless{}}
	if _, err := Decode(cr, 1000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decode(endless, 1000) = %v, want ErrTooLarge", err)
	}
	if cr.n > 1001 {
		t.Errorf("Decode(endless, 1000) read %d bytes, want at most 1001", cr.n)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestDecodeBytesMatchesDecode(t *testing.T) {
	for _, body := range []string{req(``), req(`,"at":9`), `{`, ``} {
		r1, err1 := Decode(strings.NewReader(body), 0)
		r2, err2 := DecodeBytes([]byte(body))
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Errorf("DecodeBytes(%q) = %v, Decode = %v, want the same", body, err2, err1)
		}
		if (r1 == nil) != (r2 == nil) {
			t.Errorf("DecodeBytes(%q) = %v, Decode = %v, want the same", body, r2, r1)
		}
	}
}

// TestDecodeDoesNotAliasTheBuffer guards the buffer pool: a decoded request must not
// change when a later Decode reuses the buffer it was read into.
func TestDecodeDoesNotAliasTheBuffer(t *testing.T) {
	first, err := Decode(strings.NewReader(req(`,"id":"first","imp":[{"id":"a","banner":{"w":1,"h":1},"ext":{"k":"first"}}]`)), 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := Decode(strings.NewReader(req(`,"id":"XXXXX","imp":[{"id":"b","banner":{"w":1,"h":1},"ext":{"k":"XXXXX"}}]`)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if first.ID != "first" || first.Imp[0].ID != "a" || string(first.Imp[0].Ext) != `{"k":"first"}` {
		t.Errorf("first request changed after later decodes: %+v ext %s", first, first.Imp[0].Ext)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	for _, name := range []string{"minimal.json", "full.json", "app.json", "typical.json"} {
		r1, err := DecodeBytes(fixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		m1, err := Marshal(r1)
		if err != nil {
			t.Fatalf("Marshal(%s) = %v", name, err)
		}
		r2, err := DecodeBytes(m1)
		if err != nil {
			t.Fatalf("DecodeBytes(Marshal(%s)) = %v", name, err)
		}
		m2, err := Marshal(r2)
		if err != nil || !bytes.Equal(m1, m2) {
			t.Errorf("Marshal(Decode(Marshal(%s))) = %s, %v, want %s", name, m2, err, m1)
		}
		// Every name the fixture uses inside the subset must survive: decode both into
		// generic maps and compare the subset's keys.
		var orig, back map[string]any
		_ = json.Unmarshal(fixture(t, name), &orig)
		_ = json.Unmarshal(m1, &back)
		for _, k := range []string{"id", "imp", "site", "app", "device", "user", "at", "tmax", "cur", "bcat", "badv", "ext"} {
			if (orig[k] == nil) != (back[k] == nil) {
				t.Errorf("Marshal(Decode(%s)): key %q present %v, originally %v", name, k, back[k] != nil, orig[k] != nil)
			}
		}
	}
}

func TestMarshalValidates(t *testing.T) {
	if b, err := Marshal(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Marshal(nil) = %s, %v, want ErrInvalid", b, err)
	}
	r := &BidRequest{ID: "r", Imp: []Imp{BannerImp("1", -1, Format{300, 250})}, Site: &Site{}}
	if b, err := Marshal(r); !errors.Is(err, ErrInvalid) {
		t.Errorf("Marshal(floor -1) = %s, %v, want ErrInvalid", b, err)
	}
}

func TestHelpers(t *testing.T) {
	r := &BidRequest{ID: "r", Imp: []Imp{BannerImp("1", 0.5, Format{300, 250}, Format{320, 50})}, Site: &Site{}}
	if err := r.Validate(); err != nil {
		t.Fatalf("BannerImp request: Validate() = %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"AuctionType()", r.AuctionType(), AuctionSecondPrice},
		{"Timeout(80ms)", r.Timeout(80 * time.Millisecond), 80 * time.Millisecond},
		{"Timeout with tmax", (&BidRequest{Tmax: 120}).Timeout(80 * time.Millisecond), 120 * time.Millisecond},
		{"AppendSizes(formats)", len(r.Imp[0].AppendSizes(nil)), 2},
		{"AppendSizes(w×h and formats)", len((&Imp{Banner: &Banner{W: 728, H: 90, Format: []Format{{300, 250}}}}).AppendSizes(nil)), 2},
		{"AppendSizes(w×h among formats)", len((&Imp{Banner: &Banner{W: 300, H: 250, Format: []Format{{300, 250}}}}).AppendSizes(nil)), 1},
		{"AppendSizes(no banner)", len((&Imp{}).AppendSizes(nil)), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// TestValidateDoesNotAllocate pins the claim that a passing Validate is free: it runs on
// every request.
func TestValidateDoesNotAllocate(t *testing.T) {
	r, err := DecodeBytes(fixture(t, "full.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.Validate() }); n != 0 {
		t.Errorf("Validate(full.json) allocates %v times, want 0", n)
	}
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 200},
		{ErrTooLarge, 413},
		{&http.MaxBytesError{Limit: 10}, 413},
		{ErrMalformed, 400},
		{ErrInvalid, 400},
		{&FieldError{Err: ErrInvalid, Field: "id", Reason: "empty"}, 400},
		{ErrRead, 400},
		{ErrInvalidResponse, 502},
		{errors.New("disk on fire"), 500},
	}
	for _, tt := range tests {
		if got := StatusFor(tt.err); got != tt.want {
			t.Errorf("StatusFor(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"typical.json", "full.json", "minimal.json"} {
		body := fixture(b, name)
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			var r bytes.Reader
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(body)
				if _, err := Decode(&r, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	r, err := DecodeBytes(fixture(b, "typical.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	r, err := DecodeBytes(fixture(b, "typical.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}
