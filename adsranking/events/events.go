// Package events are the ad auction's facts on the event log, with their subjects: each
// auction the bidder answered with a bid, each impression the exchange reports (billing),
// each click, and campaign changes. They are JSON, small, and carry what monitoring needs
// (model version, predicted click probability per slot) so that no join with the bidder's
// memory is needed downstream.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
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
