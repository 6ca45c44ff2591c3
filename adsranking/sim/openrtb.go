package sim

import (
	"fmt"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
)

// UserKey is a user's id as requests carry it and the profile store keys it.
func UserKey(id int64) string { return fmt.Sprintf("u%d", id) }

// BidRequest is r as an exchange would send it: one banner impression per slot of the
// placement (top first, all with the placement's tag id and reserve), the user's id, the
// device's country and type, a site or an app, tmax 50 ms.
func (w *World) BidRequest(r Request) *openrtb.BidRequest {
	u := w.User(r.User)
	pl := w.Placements[r.Placement]
	req := &openrtb.BidRequest{ID: r.IDString(), Tmax: 50,
		Device: &openrtb.Device{DeviceType: Devices[u.Device], Geo: &openrtb.Geo{Country: Geos[u.Geo]}},
		User:   &openrtb.User{ID: UserKey(u.ID)}}
	if pl.App {
		req.App = &openrtb.App{ID: pl.TagID, Bundle: "com.example." + pl.TagID}
	} else {
		req.Site = &openrtb.Site{ID: pl.TagID, Domain: pl.TagID + ".example.com"}
	}
	sizes := make([]openrtb.Format, 0, len(pl.Formats))
	for _, f := range pl.Formats {
		sizes = append(sizes, openrtb.Format{W: Formats[f].W, H: Formats[f].H})
	}
	for s := range pl.Slots {
		imp := openrtb.BannerImp(fmt.Sprint(s+1), pl.ReserveCPM, sizes...)
		imp.TagID = pl.TagID
		req.Imp = append(req.Imp, imp)
	}
	return req
}
