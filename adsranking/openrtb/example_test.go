package openrtb_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
)

// A load generator builds a request from the exported types and Marshal checks it before
// it goes on the wire; the bidder decodes it and, when it declines, answers with a reason.
func Example() {
	req := &openrtb.BidRequest{
		ID:     "req-1",
		Imp:    []openrtb.Imp{openrtb.BannerImp("1", 0.25, openrtb.Format{W: 300, H: 250})},
		Site:   &openrtb.Site{ID: "site-7", Domain: "news.example"},
		Device: &openrtb.Device{DeviceType: 4, Geo: &openrtb.Geo{Country: "USA"}},
		Tmax:   100,
	}
	body, err := openrtb.Marshal(req)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(body))

	got, err := openrtb.Decode(bytes.NewReader(body), openrtb.DefaultMaxBytes)
	fmt.Println(got.Imp[0].BidFloor, got.AuctionType(), err)

	_, err = openrtb.Marshal(&openrtb.BidRequest{ID: "req-2"})
	fmt.Println(err)

	_, err = openrtb.Decode(bytes.NewReader([]byte(`{"id":"req-3","site":{},"imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":-1}]}`)), 0)
	fmt.Println(openrtb.StatusFor(err), errors.Is(err, openrtb.ErrInvalid), err)
	// Output:
	// {"id":"req-1","imp":[{"id":"1","banner":{"format":[{"w":300,"h":250}]},"bidfloor":0.25}],"site":{"id":"site-7","domain":"news.example"},"device":{"devicetype":4,"geo":{"country":"USA"}},"tmax":100}
	// 0.25 2 <nil>
	// openrtb: invalid bid request: imp: 0 impressions, want 1..16
	// 400 true openrtb: invalid bid request: imp[0].bidfloor: -1, want ≥ 0
}

// A bidder that declines says why; nbr goes on the wire as its number.
func ExampleNoBid() {
	resp := openrtb.NoBid("req-1", openrtb.NoBidBelowFloor)
	r, _ := resp.Reason()
	fmt.Println(int(r), r)
	// Output: 501 all bids below floor
}
