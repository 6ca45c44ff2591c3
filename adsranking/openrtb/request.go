package openrtb

import (
	"encoding/json"
	"time"
)

// Auction types (BidRequest.AT). The spec's default, when at is absent, is second price.
const (
	AuctionFirstPrice  = 1
	AuctionSecondPrice = 2
)

// BidRequest is the top-level request object: one auction with one or more impressions.
// Optional objects are pointers so that "absent" and "present but empty" differ, which
// matters for the rule that a request names exactly one of Site and App.
type BidRequest struct {
	ID     string  `json:"id"`
	Imp    []Imp   `json:"imp"`
	Site   *Site   `json:"site,omitempty"`
	App    *App    `json:"app,omitempty"`
	Device *Device `json:"device,omitempty"`
	User   *User   `json:"user,omitempty"`
	// Test is 1 when the auction is not billable; the bidder still answers normally.
	Test int `json:"test,omitempty"`
	// AT is the auction type; 0 (absent) means the spec's default, second price.
	AT int `json:"at,omitempty"`
	// Tmax is the exchange's time budget in milliseconds, network included; 0 (absent)
	// means the bidder's own default.
	Tmax int `json:"tmax,omitempty"`
	// Cur lists the currencies bids may use; empty means any (USD by default).
	Cur []string `json:"cur,omitempty"`
	// BCat and BAdv are blocked advertiser categories and advertiser domains.
	BCat []string        `json:"bcat,omitempty"`
	BAdv []string        `json:"badv,omitempty"`
	Ext  json.RawMessage `json:"ext,omitempty"`
}

// Imp is one impression on offer. This bidder serves banners only, so Banner is required.
type Imp struct {
	ID     string  `json:"id"`
	Banner *Banner `json:"banner,omitempty"`
	TagID  string  `json:"tagid,omitempty"`
	// BidFloor is the minimum CPM in BidFloorCur; 0 means no floor.
	BidFloor    float64 `json:"bidfloor,omitempty"`
	BidFloorCur string  `json:"bidfloorcur,omitempty"`
	// Secure is 1 when the creative must be served over HTTPS.
	Secure int             `json:"secure,omitempty"`
	Ext    json.RawMessage `json:"ext,omitempty"`
}

// Banner is a display slot. Its size is either exact (W and H) or a list of acceptable
// sizes (Format); a request must give at least one of the two.
type Banner struct {
	Format []Format `json:"format,omitempty"`
	W      int      `json:"w,omitempty"`
	H      int      `json:"h,omitempty"`
	// Pos is the position on screen (AdCOM list; 0 unknown, 1 above the fold, ...).
	Pos int `json:"pos,omitempty"`
}

// Format is one acceptable creative size in device-independent pixels.
type Format struct {
	W int `json:"w"`
	H int `json:"h"`
}

// Site is the website the impression is on.
type Site struct {
	ID        string          `json:"id,omitempty"`
	Domain    string          `json:"domain,omitempty"`
	Page      string          `json:"page,omitempty"`
	Cat       []string        `json:"cat,omitempty"`
	Publisher *Publisher      `json:"publisher,omitempty"`
	Ext       json.RawMessage `json:"ext,omitempty"`
}

// App is the (non-browser) application the impression is in.
type App struct {
	ID        string          `json:"id,omitempty"`
	Bundle    string          `json:"bundle,omitempty"`
	Cat       []string        `json:"cat,omitempty"`
	Publisher *Publisher      `json:"publisher,omitempty"`
	Ext       json.RawMessage `json:"ext,omitempty"`
}

// Publisher owns the site or app.
type Publisher struct {
	ID string `json:"id,omitempty"`
}

// Device is what the ad will be shown on.
type Device struct {
	UA string `json:"ua,omitempty"`
	// IP is the IPv4 address closest to the device (OpenRTB keeps IPv6 in another field,
	// which this subset does not read).
	IP string `json:"ip,omitempty"`
	// DeviceType follows AdCOM's list: 1 mobile/tablet, 2 personal computer, 3 connected
	// TV, 4 phone, 5 tablet, 6 connected device, 7 set-top box, 8 out-of-home.
	DeviceType int             `json:"devicetype,omitempty"`
	OS         string          `json:"os,omitempty"`
	Geo        *Geo            `json:"geo,omitempty"`
	Ext        json.RawMessage `json:"ext,omitempty"`
}

// Geo is a location: the device's current one, or the user's home.
type Geo struct {
	// Country is ISO-3166-1 alpha-3 ("USA", not "US").
	Country string `json:"country,omitempty"`
	// Region is ISO-3166-2 (a two-letter state code in the USA).
	Region string  `json:"region,omitempty"`
	City   string  `json:"city,omitempty"`
	Lat    float64 `json:"lat,omitempty"`
	Lon    float64 `json:"lon,omitempty"`
	// Type is where the location came from: 1 GPS, 2 IP lookup, 3 user-provided.
	Type int `json:"type,omitempty"`
}

// User is the person behind the device, as far as the exchange knows.
type User struct {
	ID       string `json:"id,omitempty"`
	BuyerUID string `json:"buyeruid,omitempty"`
	// YOB and Gender are deprecated in 2.6 but still sent by many exchanges.
	YOB      int             `json:"yob,omitempty"`
	Gender   string          `json:"gender,omitempty"`
	Keywords string          `json:"keywords,omitempty"`
	Geo      *Geo            `json:"geo,omitempty"`
	Data     []Data          `json:"data,omitempty"`
	Ext      json.RawMessage `json:"ext,omitempty"`
}

// Data is one data provider's segments for the user (the bidder reads interest segments
// from here).
type Data struct {
	ID      string    `json:"id,omitempty"`
	Name    string    `json:"name,omitempty"`
	Segment []Segment `json:"segment,omitempty"`
}

// Segment is one key or value a data provider asserts about the user.
type Segment struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

// AuctionType is AT with the spec's default applied: AuctionSecondPrice when absent.
func (r *BidRequest) AuctionType() int {
	if r.AT == 0 {
		return AuctionSecondPrice
	}
	return r.AT
}

// Timeout is the exchange's time budget, or def when the request sets none.
func (r *BidRequest) Timeout(def time.Duration) time.Duration {
	if r.Tmax <= 0 {
		return def
	}
	return time.Duration(r.Tmax) * time.Millisecond
}

// AppendSizes appends the sizes the impression accepts to dst and returns it: the banner's
// formats, then its exact w×h if that is not already among them. Passing a reused dst
// keeps the bidder's hot path free of allocations.
func (imp *Imp) AppendSizes(dst []Format) []Format {
	b := imp.Banner
	if b == nil {
		return dst
	}
	dst = append(dst, b.Format...)
	if b.W > 0 && b.H > 0 {
		exact := Format{W: b.W, H: b.H}
		for _, f := range b.Format {
			if f == exact {
				return dst
			}
		}
		dst = append(dst, exact)
	}
	return dst
}

// BannerImp is a banner impression with the given floor (CPM in USD) and accepted sizes,
// the shape the load generator sends.
func BannerImp(id string, floor float64, sizes ...Format) Imp {
	return Imp{ID: id, Banner: &Banner{Format: sizes}, BidFloor: floor}
}

// Marshal validates req and encodes it as JSON, so a generator cannot send an invalid
// request by accident. To send a deliberately invalid one (to test the server's 400s),
// use encoding/json directly.
func Marshal(req *BidRequest) ([]byte, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(req)
}
