package openrtb

import (
	"encoding/json"
	"io"
	"math"
	"strconv"
)

// BidResponse is the bidder's answer: bids grouped by seat, or no bid with a reason in
// NBR. NBR is a pointer because 0 is a real code (unknown error) and must still be sent,
// while a response with bids carries no nbr at all.
type BidResponse struct {
	ID      string          `json:"id"`
	SeatBid []SeatBid       `json:"seatbid,omitempty"`
	BidID   string          `json:"bidid,omitempty"`
	Cur     string          `json:"cur,omitempty"`
	NBR     *NoBidReason    `json:"nbr,omitempty"`
	Ext     json.RawMessage `json:"ext,omitempty"`
}

// SeatBid is the bids made on behalf of one buyer seat (for this bidder, an advertiser).
type SeatBid struct {
	Bid  []Bid           `json:"bid"`
	Seat string          `json:"seat,omitempty"`
	Ext  json.RawMessage `json:"ext,omitempty"`
}

// Bid is an offer to buy one impression at Price (CPM, in the response's currency).
type Bid struct {
	ID    string  `json:"id"`
	ImpID string  `json:"impid"`
	Price float64 `json:"price"`
	// NURL is called when the bid wins, BURL when it becomes billable, LURL when it is
	// known to have lost. Adm carries the markup inline.
	NURL    string          `json:"nurl,omitempty"`
	BURL    string          `json:"burl,omitempty"`
	LURL    string          `json:"lurl,omitempty"`
	Adm     string          `json:"adm,omitempty"`
	AdID    string          `json:"adid,omitempty"`
	ADomain []string        `json:"adomain,omitempty"`
	CID     string          `json:"cid,omitempty"`
	CrID    string          `json:"crid,omitempty"`
	W       int             `json:"w,omitempty"`
	H       int             `json:"h,omitempty"`
	Ext     json.RawMessage `json:"ext,omitempty"`
}

// NoBid is the response for a request the bidder declines, carrying the reason so the
// exchange (and the load generator's tallies) can tell the causes apart.
func NoBid(id string, reason NoBidReason) BidResponse {
	return BidResponse{ID: id, NBR: &reason}
}

// Reason is the no-bid reason, if the response carries one.
func (r *BidResponse) Reason() (NoBidReason, bool) {
	if r.NBR == nil {
		return 0, false
	}
	return *r.NBR, true
}

// Bids counts the bids in the response.
func (r *BidResponse) Bids() int {
	n := 0
	for i := range r.SeatBid {
		n += len(r.SeatBid[i].Bid)
	}
	return n
}

// Validate checks what a receiver must be able to rely on: the response names its
// request, every seat has a bid, every bid names itself and its impression and has a
// finite, non-negative price, and no response both bids and gives a no-bid reason.
// It does not check the bids against the request (impression ids, floors); see
// BidResponse.CheckAgainst.
func (r *BidResponse) Validate() error {
	if r.ID == "" {
		return badResponse("id", "empty, want the request's id")
	}
	for i := range r.SeatBid {
		sb := &r.SeatBid[i]
		if len(sb.Bid) == 0 {
			return badResponse(seatPath(i, -1, ""), "no bids, want at least one (leave the seat out instead)")
		}
		for j := range sb.Bid {
			b := &sb.Bid[j]
			switch {
			case b.ID == "":
				return badResponse(seatPath(i, j, "id"), "empty")
			case b.ImpID == "":
				return badResponse(seatPath(i, j, "impid"), "empty")
			case math.IsNaN(b.Price) || math.IsInf(b.Price, 0) || b.Price < 0:
				return badResponse(seatPath(i, j, "price"), "%v, want a finite number ≥ 0", b.Price)
			case b.W < 0 || b.H < 0:
				return badResponse(seatPath(i, j, "w"), "%d×%d, want non-negative", b.W, b.H)
			}
		}
	}
	if r.NBR != nil && r.Bids() > 0 {
		return badResponse("nbr", "%d (%v) given with %d bids, want one or the other", int(*r.NBR), *r.NBR, r.Bids())
	}
	return nil
}

// CheckAgainst checks a valid response against the request it answers: the ids match,
// every bid is for an impression of the request, at or above its floor, and in a
// currency the request allows. The load generator uses it to catch a bidder that bids
// on the wrong thing.
func (r *BidResponse) CheckAgainst(req *BidRequest) error {
	if r.ID != req.ID {
		return badResponse("id", "%q, want the request's %q", r.ID, req.ID)
	}
	if r.Cur != "" && r.Cur != "USD" {
		return badResponse("cur", "%q, want USD", r.Cur)
	}
	for i := range r.SeatBid {
		for j := range r.SeatBid[i].Bid {
			b := &r.SeatBid[i].Bid[j]
			imp := -1
			for k := range req.Imp {
				if req.Imp[k].ID == b.ImpID {
					imp = k
					break
				}
			}
			if imp < 0 {
				return badResponse(seatPath(i, j, "impid"), "%q is not an impression of the request", b.ImpID)
			}
			if floor := req.Imp[imp].BidFloor; b.Price < floor {
				return badResponse(seatPath(i, j, "price"), "%v, below imp[%d].bidfloor %v", b.Price, imp, floor)
			}
		}
	}
	return nil
}

// DecodeResponse reads a bid response of at most maxBytes (DefaultMaxBytes if ≤ 0) and
// validates it. An empty body is the spec's other way to say no bid (HTTP 204); callers
// should check the status before decoding.
func DecodeResponse(r io.Reader, maxBytes int64) (*BidResponse, error) {
	resp := new(BidResponse)
	if err := decodeInto(r, maxBytes, resp, ErrInvalidResponse); err != nil {
		return nil, err
	}
	if err := resp.Validate(); err != nil {
		return nil, err
	}
	return resp, nil
}

// seatPath formats "seatbid[i].bid[j].field" (or "seatbid[i]" when j < 0) for errors.
func seatPath(i, j int, field string) string {
	p := "seatbid[" + strconv.Itoa(i) + "]"
	if j < 0 {
		return p
	}
	return p + ".bid[" + strconv.Itoa(j) + "]." + field
}

func badResponse(field, format string, args ...any) error {
	return fieldError(ErrInvalidResponse, field, format, args...)
}
