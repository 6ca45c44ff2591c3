package openrtb

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// decodeFast parses a bid request without reflection, for the shape real traffic has, and
// gives up (ok = false) on anything it does not decode exactly as encoding/json would: a
// string with an escape or invalid UTF-8, a null, a key that matches a field only when case
// is ignored, a repeated key, a number of the wrong kind or out of range, a value of the
// wrong JSON type, a syntax error anywhere. The caller then runs encoding/json on the same
// bytes, so what is accepted and every error message stay encoding/json's; the
// differential test (TestDecodeFastMatchesJSON, FuzzDecodeFast) holds the two to the same
// result whenever this one answers. It copies every string and ext out of data.
func decodeFast(data []byte, r *BidRequest) bool {
	p := fastParser{d: data}
	p.ws()
	p.object(requestFields, func(f int) {
		switch f {
		case 0:
			r.ID = p.str()
		case 1:
			r.Imp = make([]Imp, 0, 4)
			p.array(func() {
				r.Imp = append(r.Imp, Imp{})
				p.imp(&r.Imp[len(r.Imp)-1])
			})
		case 2:
			r.Site = new(Site)
			p.site(r.Site)
		case 3:
			r.App = new(App)
			p.app(r.App)
		case 4:
			r.Device = new(Device)
			p.device(r.Device)
		case 5:
			r.User = new(User)
			p.user(r.User)
		case 6:
			r.Test = p.int()
		case 7:
			r.AT = p.int()
		case 8:
			r.Tmax = p.int()
		case 9:
			r.Cur = p.strings()
		case 10:
			r.BCat = p.strings()
		case 11:
			r.BAdv = p.strings()
		case 12:
			r.Ext = p.raw()
		}
	})
	p.ws()
	return !p.bad && p.i == len(p.d)
}

// The JSON names of each struct's fields, in the order of the switches that decode them.
var (
	requestFields   = []string{"id", "imp", "site", "app", "device", "user", "test", "at", "tmax", "cur", "bcat", "badv", "ext"}
	impFields       = []string{"id", "banner", "tagid", "bidfloor", "bidfloorcur", "secure", "ext"}
	bannerFields    = []string{"format", "w", "h", "pos"}
	formatFields    = []string{"w", "h"}
	siteFields      = []string{"id", "domain", "page", "cat", "publisher", "ext"}
	appFields       = []string{"id", "bundle", "cat", "publisher", "ext"}
	publisherFields = []string{"id"}
	deviceFields    = []string{"ua", "ip", "devicetype", "os", "geo", "ext"}
	geoFields       = []string{"country", "region", "city", "lat", "lon", "type"}
	userFields      = []string{"id", "buyeruid", "yob", "gender", "keywords", "geo", "data", "ext"}
	dataFields      = []string{"id", "name", "segment"}
	segmentFields   = []string{"id", "name", "value"}
)

func (p *fastParser) imp(m *Imp) {
	p.object(impFields, func(f int) {
		switch f {
		case 0:
			m.ID = p.str()
		case 1:
			m.Banner = new(Banner)
			b := m.Banner
			p.object(bannerFields, func(f int) {
				switch f {
				case 0:
					b.Format = make([]Format, 0, 4)
					p.array(func() {
						var x Format
						p.object(formatFields, func(f int) {
							if f == 0 {
								x.W = p.int()
							} else {
								x.H = p.int()
							}
						})
						b.Format = append(b.Format, x)
					})
				case 1:
					b.W = p.int()
				case 2:
					b.H = p.int()
				case 3:
					b.Pos = p.int()
				}
			})
		case 2:
			m.TagID = p.str()
		case 3:
			m.BidFloor = p.float()
		case 4:
			m.BidFloorCur = p.str()
		case 5:
			m.Secure = p.int()
		case 6:
			m.Ext = p.raw()
		}
	})
}

func (p *fastParser) site(s *Site) {
	p.object(siteFields, func(f int) {
		switch f {
		case 0:
			s.ID = p.str()
		case 1:
			s.Domain = p.str()
		case 2:
			s.Page = p.str()
		case 3:
			s.Cat = p.strings()
		case 4:
			s.Publisher = p.publisher()
		case 5:
			s.Ext = p.raw()
		}
	})
}

func (p *fastParser) app(a *App) {
	p.object(appFields, func(f int) {
		switch f {
		case 0:
			a.ID = p.str()
		case 1:
			a.Bundle = p.str()
		case 2:
			a.Cat = p.strings()
		case 3:
			a.Publisher = p.publisher()
		case 4:
			a.Ext = p.raw()
		}
	})
}

func (p *fastParser) publisher() *Publisher {
	pub := new(Publisher)
	p.object(publisherFields, func(int) { pub.ID = p.str() })
	return pub
}

func (p *fastParser) device(d *Device) {
	p.object(deviceFields, func(f int) {
		switch f {
		case 0:
			d.UA = p.str()
		case 1:
			d.IP = p.str()
		case 2:
			d.DeviceType = p.int()
		case 3:
			d.OS = p.str()
		case 4:
			d.Geo = p.geo()
		case 5:
			d.Ext = p.raw()
		}
	})
}

func (p *fastParser) geo() *Geo {
	g := new(Geo)
	p.object(geoFields, func(f int) {
		switch f {
		case 0:
			g.Country = p.str()
		case 1:
			g.Region = p.str()
		case 2:
			g.City = p.str()
		case 3:
			g.Lat = p.float()
		case 4:
			g.Lon = p.float()
		case 5:
			g.Type = p.int()
		}
	})
	return g
}

func (p *fastParser) user(u *User) {
	p.object(userFields, func(f int) {
		switch f {
		case 0:
			u.ID = p.str()
		case 1:
			u.BuyerUID = p.str()
		case 2:
			u.YOB = p.int()
		case 3:
			u.Gender = p.str()
		case 4:
			u.Keywords = p.str()
		case 5:
			u.Geo = p.geo()
		case 6:
			u.Data = make([]Data, 0, 2)
			p.array(func() {
				var d Data
				p.object(dataFields, func(f int) {
					switch f {
					case 0:
						d.ID = p.str()
					case 1:
						d.Name = p.str()
					case 2:
						d.Segment = make([]Segment, 0, 4)
						p.array(func() {
							var s Segment
							p.object(segmentFields, func(f int) {
								switch f {
								case 0:
									s.ID = p.str()
								case 1:
									s.Name = p.str()
								case 2:
									s.Value = p.str()
								}
							})
							d.Segment = append(d.Segment, s)
						})
					}
				})
				u.Data = append(u.Data, d)
			})
		case 7:
			u.Ext = p.raw()
		}
	})
}

// fastParser walks one JSON document. Any surprise sets bad, after which every method
// returns at once and the caller's result is thrown away.
type fastParser struct {
	d     []byte
	i     int
	bad   bool
	depth int // of skip's nesting
}

// maxSkipDepth is the deepest value skip reads; deeper ones (encoding/json refuses past
// 10,000) go to encoding/json.
const maxSkipDepth = 64

func (p *fastParser) ws() {
	for p.i < len(p.d) {
		switch p.d[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, or 0 at the end.
func (p *fastParser) peek() byte {
	p.ws()
	if p.i < len(p.d) {
		return p.d[p.i]
	}
	return 0
}

// object reads an object whose known keys are fields, calling each with the index of
// every known key (its value next in the input) and skipping the values of unknown ones.
func (p *fastParser) object(fields []string, each func(f int)) {
	if p.bad || p.peek() != '{' {
		p.bad = true
		return
	}
	p.i++
	var seen uint32
	if p.peek() == '}' {
		p.i++
		return
	}
	for !p.bad {
		key := p.rawString()
		if p.bad || p.peek() != ':' {
			p.bad = true
			return
		}
		p.i++
		f := fieldIndex(fields, key)
		switch {
		case f == -2:
			p.bad = true // a case-insensitive match: encoding/json's folding decides
			return
		case f == -1:
			p.skip()
		case seen&(1<<f) != 0:
			p.bad = true // a repeated key: encoding/json merges or replaces
			return
		default:
			seen |= 1 << f
			if p.peek() == 'n' {
				p.bad = true // null leaves a field as it was, or resets a pointer
				return
			}
			each(f)
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return
		default:
			p.bad = true
		}
	}
}

// fieldIndex is key's index in fields, -1 if key is no field, -2 if it is one only when
// case is ignored (or is not plain ASCII, where encoding/json folds some letters).
func fieldIndex(fields []string, key []byte) int {
	for i, f := range fields {
		if string(key) == f {
			return i
		}
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return -2
		}
	}
	for _, f := range fields {
		if len(f) == len(key) && asciiEqualFold(f, key) {
			return -2
		}
	}
	return -1
}

func asciiEqualFold(s string, b []byte) bool {
	for i := range len(s) {
		x, y := s[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// array reads an array, calling each with the parser at every element.
func (p *fastParser) array(each func()) {
	if p.bad || p.peek() != '[' {
		p.bad = true
		return
	}
	p.i++
	if p.peek() == ']' {
		p.i++
		return
	}
	for !p.bad {
		each()
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return
		default:
			p.bad = true
		}
	}
}

// rawString reads a string without escapes and returns its bytes (not copied). An escape,
// a control character or invalid UTF-8 sets bad.
func (p *fastParser) rawString() []byte {
	if p.bad || p.peek() != '"' {
		p.bad = true
		return nil
	}
	p.i++
	start, ascii := p.i, true
	for p.i < len(p.d) {
		c := p.d[p.i]
		switch {
		case c == '"':
			s := p.d[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				p.bad = true
			}
			return s
		case c == '\\' || c < 0x20:
			p.bad = true
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	p.bad = true
	return nil
}

func (p *fastParser) str() string {
	s := p.rawString()
	if p.bad {
		return ""
	}
	return string(s)
}

func (p *fastParser) strings() []string {
	out := make([]string, 0, 2)
	p.array(func() { out = append(out, p.str()) })
	return out
}

// number reads a JSON number's bytes; integer reports that it has no fraction or exponent.
func (p *fastParser) number() (num []byte, integer bool) {
	if p.bad {
		return nil, false
	}
	p.ws()
	start, d := p.i, p.d
	i := p.i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		p.bad = true
		return nil, false
	}
	integer = true
	if i < len(d) && d[i] == '.' {
		integer = false
		i++
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		if i == j {
			p.bad = true
			return nil, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		if i == j {
			p.bad = true
			return nil, false
		}
	}
	p.i = i
	return d[start:i], integer
}

func (p *fastParser) int() int {
	num, integer := p.number()
	if p.bad || !integer {
		p.bad = true
		return 0
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		p.bad = true
	}
	return int(n)
}

func (p *fastParser) float() float64 {
	num, _ := p.number()
	if p.bad {
		return 0
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		p.bad = true
	}
	return f
}

// raw reads any value and returns a copy of its bytes, as json.RawMessage keeps them.
func (p *fastParser) raw() json.RawMessage {
	start := p.i
	p.skip()
	if p.bad {
		return nil
	}
	return append(json.RawMessage(nil), p.d[start:p.i]...)
}

// skip reads one value of any type, checking its syntax as encoding/json does (strings may
// hold escapes and any bytes but control characters; invalid UTF-8 is allowed in a value
// nobody decodes).
func (p *fastParser) skip() {
	if p.depth++; p.depth > maxSkipDepth {
		p.bad = true
	}
	defer func() { p.depth-- }()
	if p.bad {
		return
	}
	switch p.peek() {
	case '{':
		p.i++
		if p.peek() == '}' {
			p.i++
			return
		}
		for !p.bad {
			p.skipString()
			if p.bad || p.peek() != ':' {
				p.bad = true
				return
			}
			p.i++
			p.skip()
			switch p.peek() {
			case ',':
				p.i++
			case '}':
				p.i++
				return
			default:
				p.bad = true
			}
		}
	case '[':
		p.array(p.skip)
	case '"':
		p.skipString()
	case 't':
		p.literal("true")
	case 'f':
		p.literal("false")
	case 'n':
		p.literal("null")
	default:
		p.number()
	}
}

func (p *fastParser) literal(lit string) {
	if len(p.d)-p.i < len(lit) || string(p.d[p.i:p.i+len(lit)]) != lit {
		p.bad = true
		return
	}
	p.i += len(lit)
}

// skipString reads a string that may hold escapes.
func (p *fastParser) skipString() {
	if p.bad || p.peek() != '"' {
		p.bad = true
		return
	}
	p.i++
	for p.i < len(p.d) {
		c := p.d[p.i]
		p.i++
		switch {
		case c == '"':
			return
		case c < 0x20:
			p.bad = true
			return
		case c == '\\':
			if p.i >= len(p.d) {
				p.bad = true
				return
			}
			e := p.d[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(p.d)-p.i < 4 {
					p.bad = true
					return
				}
				for _, h := range p.d[p.i : p.i+4] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						p.bad = true
						return
					}
				}
				p.i += 4
			default:
				p.bad = true
				return
			}
		}
	}
	p.bad = true
}

// decodeResponseFast is decodeFast for a bid response (the load generator reads one per
// request): the same rules, and the same hand-over to encoding/json.
func decodeResponseFast(data []byte, r *BidResponse) bool {
	p := fastParser{d: data}
	p.ws()
	p.object(responseFields, func(f int) {
		switch f {
		case 0:
			r.ID = p.str()
		case 1:
			r.SeatBid = make([]SeatBid, 0, 2)
			p.array(func() {
				r.SeatBid = append(r.SeatBid, SeatBid{})
				p.seatBid(&r.SeatBid[len(r.SeatBid)-1])
			})
		case 2:
			r.BidID = p.str()
		case 3:
			r.Cur = p.str()
		case 4:
			nbr := NoBidReason(p.int())
			r.NBR = &nbr
		case 5:
			r.Ext = p.raw()
		}
	})
	p.ws()
	return !p.bad && p.i == len(p.d)
}

var (
	responseFields = []string{"id", "seatbid", "bidid", "cur", "nbr", "ext"}
	seatBidFields  = []string{"bid", "seat", "ext"}
	bidFields      = []string{"id", "impid", "price", "nurl", "burl", "lurl", "adm", "adid", "adomain", "cid", "crid", "w", "h", "ext"}
)

func (p *fastParser) seatBid(sb *SeatBid) {
	p.object(seatBidFields, func(f int) {
		switch f {
		case 0:
			sb.Bid = make([]Bid, 0, 2)
			p.array(func() {
				sb.Bid = append(sb.Bid, Bid{})
				p.bid(&sb.Bid[len(sb.Bid)-1])
			})
		case 1:
			sb.Seat = p.str()
		case 2:
			sb.Ext = p.raw()
		}
	})
}

func (p *fastParser) bid(b *Bid) {
	p.object(bidFields, func(f int) {
		switch f {
		case 0:
			b.ID = p.str()
		case 1:
			b.ImpID = p.str()
		case 2:
			b.Price = p.float()
		case 3:
			b.NURL = p.str()
		case 4:
			b.BURL = p.str()
		case 5:
			b.LURL = p.str()
		case 6:
			b.Adm = p.str()
		case 7:
			b.AdID = p.str()
		case 8:
			b.ADomain = p.strings()
		case 9:
			b.CID = p.str()
		case 10:
			b.CrID = p.str()
		case 11:
			b.W = p.int()
		case 12:
			b.H = p.int()
		case 13:
			b.Ext = p.raw()
		}
	})
}
