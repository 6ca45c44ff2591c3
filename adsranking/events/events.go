// Package events are the ad auction's facts on the event log, with their subjects: the
// auctions the bidder answered with a bid (in batches, several per event), each impression
// the exchange reports (billing), each click, and campaign changes. They are JSON, small, and carry what monitoring needs
// (model version, predicted click probability per slot) so that no join with the bidder's
// memory is needed downstream.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
)

// Subjects, and the stream that holds them.
const (
	Stream          = "ADS"
	SubjectAuction  = "ads.auction"
	SubjectImpress  = "ads.impression"
	SubjectClick    = "ads.click"
	SubjectCampaign = "ads.campaign"
	SubjectsAll     = "ads.>"
)

// ErrInvalid reports an event that does not decode or does not make sense.
var ErrInvalid = errors.New("events: invalid event")

// Auction is one request the bidder bid on: its winners, one per slot.
type Auction struct {
	Request string    `json:"request"`
	Time    time.Time `json:"time"`
	Model   string    `json:"model"` // registry version of the click model, "ads-pctr/v3"
	Level   string    `json:"level"` // degrade ladder step
	Winners []Slot    `json:"winners"`
}

// Slot is one winner.
type Slot struct {
	Slot     int     `json:"slot"`
	Ad       int64   `json:"ad"`
	Campaign int64   `json:"campaign"`
	PCTR     float64 `json:"pctr"`     // predicted click probability in this slot (position applied)
	Cost     float64 `json:"cost"`     // USD per impression, what the impression bills
	Reserved uint64  `json:"reserved"` // the budget reservation to settle at impression time
}

// Impression is the exchange's report that a winner was shown (billing).
type Impression struct {
	Request  string    `json:"request"`
	Time     time.Time `json:"time"`
	Slot     int       `json:"slot"`
	Ad       int64     `json:"ad"`
	Campaign int64     `json:"campaign"`
	Model    string    `json:"model"`
	PCTR     float64   `json:"pctr"`
	Cost     float64   `json:"cost"`
	Reserved uint64    `json:"reserved"`
}

// ID is the impression's event id: one impression per request and slot.
func (i Impression) ID() string { return fmt.Sprintf("imp-%s-%d", i.Request, i.Slot) }

// Click is a click on a shown ad.
type Click struct {
	Request  string    `json:"request"`
	Time     time.Time `json:"time"`
	Slot     int       `json:"slot"`
	Ad       int64     `json:"ad"`
	Campaign int64     `json:"campaign"`
	Model    string    `json:"model"`
}

// ID is the click's event id (one click counted per impression).
func (c Click) ID() string { return fmt.Sprintf("clk-%s-%d", c.Request, c.Slot) }

// DecodeImpression parses and checks an impression.
func DecodeImpression(data []byte) (Impression, error) {
	var i Impression
	if err := json.Unmarshal(data, &i); err != nil {
		return i, fmt.Errorf("%w: impression: %v", ErrInvalid, err)
	}
	if i.Request == "" || i.Slot < 0 || i.Ad <= 0 || i.Campaign <= 0 || !(i.PCTR >= 0 && i.PCTR <= 1) || !(i.Cost >= 0) || math.IsInf(i.Cost, 0) {
		return i, fmt.Errorf("%w: impression %+v", ErrInvalid, i)
	}
	return i, nil
}

// DecodeClick parses and checks a click.
func DecodeClick(data []byte) (Click, error) {
	var c Click
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%w: click: %v", ErrInvalid, err)
	}
	if c.Request == "" || c.Slot < 0 || c.Ad <= 0 || c.Campaign <= 0 {
		return c, fmt.Errorf("%w: click %+v", ErrInvalid, c)
	}
	return c, nil
}

// Auctions are logged in batches: one event on SubjectAuction holds the auctions of one
// flush of the bidder's publisher (every 10 ms, or 512 auctions), as a JSON array in the
// order they were decided. One event per auction cost the embedded log a stored message,
// a deduplication entry and an ack each: a quarter of the server's CPU at 2,000 bids a
// second. The batch's event id is the publisher's (random per process) plus its sequence
// number, so a retried publish of the same batch is stored once.

// AuctionBatchID is the event id of a publisher's seq-th batch.
func AuctionBatchID(publisher string, seq uint64) string {
	return "auc-" + publisher + "-" + strconv.FormatUint(seq, 10)
}

// AppendAuctions appends the JSON array of as to dst and returns it: what DecodeAuctions
// reads. Encoding by hand keeps reflection off the per-auction path; the output is the
// same as encoding/json's (TestAppendAuctionsMatchesJSON).
func AppendAuctions(dst []byte, as []Auction) []byte {
	dst = append(dst, '[')
	for i := range as {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendAuction(dst, &as[i])
	}
	return append(dst, ']')
}

func appendAuction(b []byte, a *Auction) []byte {
	b = append(b, `{"request":`...)
	b = openrtb.AppendJSONString(b, a.Request)
	b = append(b, `,"time":"`...)
	b = a.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","model":`...)
	b = openrtb.AppendJSONString(b, a.Model)
	b = append(b, `,"level":`...)
	b = openrtb.AppendJSONString(b, a.Level)
	b = append(b, `,"winners":`...)
	if a.Winners == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range a.Winners {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"slot":`...)
			b = strconv.AppendInt(b, int64(s.Slot), 10)
			b = append(b, `,"ad":`...)
			b = strconv.AppendInt(b, s.Ad, 10)
			b = append(b, `,"campaign":`...)
			b = strconv.AppendInt(b, s.Campaign, 10)
			b = append(b, `,"pctr":`...)
			b = openrtb.AppendJSONFloat(b, finite(s.PCTR))
			b = append(b, `,"cost":`...)
			b = openrtb.AppendJSONFloat(b, finite(s.Cost))
			b = append(b, `,"reserved":`...)
			b = strconv.AppendUint(b, s.Reserved, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// finite keeps a NaN or infinity, which JSON cannot carry, out of the log as 0; a cost or
// pCTR is never one.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// DecodeAuctions parses one batch of auctions.
func DecodeAuctions(data []byte) ([]Auction, error) {
	var as []Auction
	if err := json.Unmarshal(data, &as); err != nil {
		return nil, fmt.Errorf("%w: auctions: %v", ErrInvalid, err)
	}
	for _, a := range as {
		if a.Request == "" || len(a.Winners) == 0 {
			return nil, fmt.Errorf("%w: auction %+v", ErrInvalid, a)
		}
	}
	return as, nil
}
