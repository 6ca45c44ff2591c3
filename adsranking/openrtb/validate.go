package openrtb

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"unicode/utf8"
)

// Limits Validate enforces. They are far above what real traffic carries and exist so that
// one request cannot make the bidder do unbounded work (score thousands of impressions,
// match against thousands of sizes, hash megabyte strings).
const (
	// MaxImps bounds the impressions per request; the bidder scores each one.
	MaxImps = 16
	// MaxFormats bounds the sizes one banner may list.
	MaxFormats = 32
	// MaxSize bounds a banner width or height in pixels.
	MaxSize = 10000
	// MaxTmax bounds tmax in milliseconds; no real-time auction waits longer.
	MaxTmax = 5000
	// MaxIDLen bounds ids, codes and other short strings, in bytes.
	MaxIDLen = 256
	// MaxStringLen bounds free text: user agents, page URLs, keywords.
	MaxStringLen = 4096
	// MaxListLen bounds string lists (cur, bcat, badv, cat) and user data and segments.
	MaxListLen = 128
)

// Currency is the only currency this bidder prices in; a floor in anything else would
// need an exchange rate the case study does not model.
const Currency = "USD"

// Validate reports the first field that makes r a request this bidder cannot act on, as
// a *FieldError wrapping ErrInvalid whose Field is the path ("imp[1].bidfloor"), or nil.
// Decode calls it; callers building requests in code (the load generator) can call it
// themselves. It allocates only when it fails.
//
// Beyond the spec's own rules it requires what this bidder needs: exactly one of site and
// app (the spec allows neither), a banner with a size on every impression (the bidder
// serves nothing else), prices in USD, and the limits above. Enumerations that AdCOM may
// extend (device type, banner position, geo type) are accepted whatever their value,
// since the spec requires receivers to tolerate new values.
func (r *BidRequest) Validate() error {
	if r == nil {
		return invalid("(top level)", "nil request")
	}
	if err := checkID("id", r.ID, true); err != nil {
		return err
	}
	if n := len(r.Imp); n < 1 || n > MaxImps {
		return invalid("imp", "%d impressions, want 1..%d", n, MaxImps)
	}
	for i := range r.Imp {
		if err := r.validateImp(i); err != nil {
			return err
		}
	}
	switch {
	case r.Site == nil && r.App == nil:
		return invalid("site", "absent and so is app, want exactly one of them")
	case r.Site != nil && r.App != nil:
		return invalid("app", "present and so is site, want exactly one of them")
	case r.Site != nil:
		if err := r.Site.validate(); err != nil {
			return err
		}
	default:
		if err := r.App.validate(); err != nil {
			return err
		}
	}
	if r.Device != nil {
		if err := r.Device.validate(); err != nil {
			return err
		}
	}
	if r.User != nil {
		if err := r.User.validate(); err != nil {
			return err
		}
	}
	if r.Test != 0 && r.Test != 1 {
		return invalid("test", "%d, want 0 or 1", r.Test)
	}
	if r.AT < 0 || r.AT > AuctionSecondPrice {
		return invalid("at", "%d, want 1 (first price) or 2 (second price); absent means 2", r.AT)
	}
	if r.Tmax < 0 || r.Tmax > MaxTmax {
		return invalid("tmax", "%d, want 0..%d ms (0 or absent means the bidder's default)", r.Tmax, MaxTmax)
	}
	if err := checkList("cur", r.Cur, 3); err != nil {
		return err
	}
	if len(r.Cur) > 0 && !contains(r.Cur, Currency) {
		return invalid("cur", "%q, want a list that includes %s: this bidder prices in %s only", r.Cur, Currency, Currency)
	}
	if err := checkList("bcat", r.BCat, MaxIDLen); err != nil {
		return err
	}
	if err := checkList("badv", r.BAdv, MaxIDLen); err != nil {
		return err
	}
	return checkExt("ext", r.Ext)
}

func (r *BidRequest) validateImp(i int) error {
	imp := &r.Imp[i]
	path := func(field string) string { return "imp[" + strconv.Itoa(i) + "]" + field }
	if imp.ID == "" {
		return invalid(path(".id"), "empty, want the impression's id")
	}
	if len(imp.ID) > MaxIDLen {
		return invalid(path(".id"), "%d bytes, want ≤ %d", len(imp.ID), MaxIDLen)
	}
	for j := range i {
		if r.Imp[j].ID == imp.ID {
			return invalid(path(".id"), "%q repeats imp[%d].id, want ids unique within the request", imp.ID, j)
		}
	}
	if err := imp.Banner.validate(path); err != nil {
		return err
	}
	if f := imp.BidFloor; math.IsNaN(f) || math.IsInf(f, 0) {
		return invalid(path(".bidfloor"), "%v, want a finite number", f)
	} else if f < 0 {
		return invalid(path(".bidfloor"), "%v, want ≥ 0", f)
	}
	if imp.BidFloorCur != "" && imp.BidFloorCur != Currency {
		return invalid(path(".bidfloorcur"), "%q, want %s or absent: this bidder prices in %s only", truncate(imp.BidFloorCur), Currency, Currency)
	}
	if len(imp.TagID) > MaxIDLen {
		return invalid(path(".tagid"), "%d bytes, want ≤ %d", len(imp.TagID), MaxIDLen)
	}
	if imp.Secure != 0 && imp.Secure != 1 {
		return invalid(path(".secure"), "%d, want 0 or 1", imp.Secure)
	}
	if !isObject(imp.Ext) {
		return checkExt(path(".ext"), imp.Ext)
	}
	return nil
}

// validate checks the banner of the impression whose path builder is given.
func (b *Banner) validate(path func(string) string) error {
	if b == nil {
		return invalid(path(".banner"), "absent, want a banner: this bidder serves banner impressions only")
	}
	if len(b.Format) > MaxFormats {
		return invalid(path(".banner.format"), "%d sizes, want ≤ %d", len(b.Format), MaxFormats)
	}
	for k, f := range b.Format {
		if f.W < 1 || f.W > MaxSize || f.H < 1 || f.H > MaxSize {
			return invalid(path(".banner.format["+strconv.Itoa(k)+"]"), "%d×%d, want w and h in 1..%d", f.W, f.H, MaxSize)
		}
	}
	if b.W == 0 && b.H == 0 {
		if len(b.Format) == 0 {
			return invalid(path(".banner"), "no size, want w and h or at least one format")
		}
	} else if b.W < 1 || b.W > MaxSize || b.H < 1 || b.H > MaxSize {
		return invalid(path(".banner"), "w×h %d×%d, want both in 1..%d (or neither, with formats)", b.W, b.H, MaxSize)
	}
	if b.Pos < 0 {
		return invalid(path(".banner.pos"), "%d, want ≥ 0", b.Pos)
	}
	return nil
}

func (s *Site) validate() error {
	if err := checkID("site.id", s.ID, false); err != nil {
		return err
	}
	if err := checkID("site.domain", s.Domain, false); err != nil {
		return err
	}
	if err := checkText("site.page", s.Page); err != nil {
		return err
	}
	if err := checkList("site.cat", s.Cat, MaxIDLen); err != nil {
		return err
	}
	if s.Publisher != nil {
		if err := checkID("site.publisher.id", s.Publisher.ID, false); err != nil {
			return err
		}
	}
	return checkExt("site.ext", s.Ext)
}

func (a *App) validate() error {
	if err := checkID("app.id", a.ID, false); err != nil {
		return err
	}
	if err := checkID("app.bundle", a.Bundle, false); err != nil {
		return err
	}
	if err := checkList("app.cat", a.Cat, MaxIDLen); err != nil {
		return err
	}
	if a.Publisher != nil {
		if err := checkID("app.publisher.id", a.Publisher.ID, false); err != nil {
			return err
		}
	}
	return checkExt("app.ext", a.Ext)
}

func (d *Device) validate() error {
	if err := checkText("device.ua", d.UA); err != nil {
		return err
	}
	if d.IP != "" {
		// netip rejects zones, leading zeros and the like, and does not allocate.
		if a, err := netip.ParseAddr(d.IP); err != nil || !a.Is4() {
			return invalid("device.ip", "%q, want an IPv4 address", truncate(d.IP))
		}
	}
	if d.DeviceType < 0 {
		return invalid("device.devicetype", "%d, want ≥ 0", d.DeviceType)
	}
	if err := checkID("device.os", d.OS, false); err != nil {
		return err
	}
	if d.Geo != nil {
		if err := d.Geo.validate("device.geo"); err != nil {
			return err
		}
	}
	return checkExt("device.ext", d.Ext)
}

// validate checks a geo object found at path ("device.geo" or "user.geo").
func (g *Geo) validate(path string) error {
	if g.Country != "" && !isAlpha3(g.Country) {
		return invalid(path+".country", "%q, want an ISO-3166-1 alpha-3 code such as \"USA\"", truncate(g.Country))
	}
	if len(g.Region) > MaxIDLen {
		return invalid(path+".region", "%d bytes, want ≤ %d", len(g.Region), MaxIDLen)
	}
	if len(g.City) > MaxIDLen {
		return invalid(path+".city", "%d bytes, want ≤ %d", len(g.City), MaxIDLen)
	}
	if math.IsNaN(g.Lat) || g.Lat < -90 || g.Lat > 90 {
		return invalid(path+".lat", "%v, want -90..90", g.Lat)
	}
	if math.IsNaN(g.Lon) || g.Lon < -180 || g.Lon > 180 {
		return invalid(path+".lon", "%v, want -180..180", g.Lon)
	}
	if g.Type < 0 {
		return invalid(path+".type", "%d, want ≥ 0", g.Type)
	}
	return nil
}

func (u *User) validate() error {
	if err := checkID("user.id", u.ID, false); err != nil {
		return err
	}
	if err := checkID("user.buyeruid", u.BuyerUID, false); err != nil {
		return err
	}
	if u.YOB != 0 && (u.YOB < 1900 || u.YOB > 2100) {
		return invalid("user.yob", "%d, want a four-digit year 1900..2100", u.YOB)
	}
	switch u.Gender {
	case "", "M", "F", "O":
	default:
		return invalid("user.gender", "%q, want M, F or O", truncate(u.Gender))
	}
	if err := checkText("user.keywords", u.Keywords); err != nil {
		return err
	}
	if u.Geo != nil {
		if err := u.Geo.validate("user.geo"); err != nil {
			return err
		}
	}
	if len(u.Data) > MaxListLen {
		return invalid("user.data", "%d entries, want ≤ %d", len(u.Data), MaxListLen)
	}
	for i := range u.Data {
		d := &u.Data[i]
		path := func(field string) string { return "user.data[" + strconv.Itoa(i) + "]" + field }
		if len(d.ID) > MaxIDLen || len(d.Name) > MaxIDLen {
			return invalid(path(""), "id or name longer than %d bytes", MaxIDLen)
		}
		if len(d.Segment) > MaxListLen {
			return invalid(path(".segment"), "%d entries, want ≤ %d", len(d.Segment), MaxListLen)
		}
		for j, s := range d.Segment {
			if len(s.ID) > MaxIDLen || len(s.Name) > MaxIDLen || len(s.Value) > MaxIDLen {
				return invalid(path(".segment["+strconv.Itoa(j)+"]"), "id, name or value longer than %d bytes", MaxIDLen)
			}
		}
	}
	return checkExt("user.ext", u.Ext)
}

// checkID checks a short string; required says whether it may be empty.
func checkID(field, s string, required bool) error {
	if required && s == "" {
		return invalid(field, "empty, want an id")
	}
	if len(s) > MaxIDLen {
		return invalid(field, "%d bytes, want ≤ %d", len(s), MaxIDLen)
	}
	return nil
}

func checkText(field, s string) error {
	if len(s) > MaxStringLen {
		return invalid(field, "%d bytes, want ≤ %d", len(s), MaxStringLen)
	}
	return nil
}

// checkList checks a list of short strings: at most MaxListLen of them, none empty or
// longer than maxLen.
func checkList(field string, list []string, maxLen int) error {
	if len(list) > MaxListLen {
		return invalid(field, "%d entries, want ≤ %d", len(list), MaxListLen)
	}
	for i, s := range list {
		if s == "" || len(s) > maxLen {
			return invalid(field+"["+strconv.Itoa(i)+"]", "%d bytes, want 1..%d", len(s), maxLen)
		}
	}
	return nil
}

// checkExt checks that an ext, if present, is an object (or null), as the spec defines
// it; anything else means the sender misunderstood the field. Its contents are the
// sender's business.
func checkExt(field string, ext json.RawMessage) error {
	if isObject(ext) {
		return nil
	}
	return invalid(field, "%s, want an object", truncate(string(bytes.TrimSpace(ext))))
}

func isObject(ext json.RawMessage) bool {
	e := bytes.TrimSpace(ext)
	return len(e) == 0 || e[0] == '{' || string(e) == "null"
}

func isAlpha3(s string) bool {
	return len(s) == 3 && isUpper(s[0]) && isUpper(s[1]) && isUpper(s[2])
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// truncate shortens a value quoted back in an error message, so a megabyte string does
// not become a megabyte log line.
func truncate(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut-- // do not split a character
	}
	return s[:cut] + "…"
}
