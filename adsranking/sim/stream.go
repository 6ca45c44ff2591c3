package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// HourlyTraffic is the relative traffic of each hour (UTC of the simulated publisher),
// normalized where it is used: a night trough about a ninth of the evening peak, as
// display traffic has.
var HourlyTraffic = [Hours]float64{
	0.020, 0.014, 0.010, 0.008, 0.008, 0.011, 0.020, 0.033, 0.045, 0.050, 0.052, 0.054,
	0.056, 0.054, 0.052, 0.051, 0.052, 0.056, 0.062, 0.068, 0.070, 0.064, 0.048, 0.032,
}

// Day is the simulated day every stream starts at.
var Day = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// Request is one ad request: who, where, when. ID is unique within a stream.
type Request struct {
	ID        uint64
	Time      time.Time
	User      int64
	Placement int
	Hour      int
}

// IDString is the request id as the OpenRTB request carries it.
func (r Request) IDString() string { return fmt.Sprintf("r%d", r.ID) }

// Requests draws n requests of one day in time order, hours following HourlyTraffic,
// users by their activity and placements by their share. n < 0 draws none.
func (w *World) Requests(n int, seed uint64) []Request {
	rng := newRand(seed, 11)
	hourCDF := cumulative(HourlyTraffic[:])
	out := make([]Request, max(n, 0))
	for i := range out {
		h := draw(rng, hourCDF)
		at := Day.Add(time.Duration(h)*time.Hour + time.Duration(rng.Int64N(int64(time.Hour))))
		out[i] = Request{Time: at, Hour: h, User: int64(draw(rng, w.userCDF) + 1), Placement: draw(rng, w.placeCDF)}
	}
	slices.SortFunc(out, func(a, b Request) int { return a.Time.Compare(b.Time) })
	for i := range out {
		out[i].ID = seed<<40 | uint64(i+1)
	}
	return out
}

// RequestAt draws one request at hour h from rng (for load generation, where order does
// not matter). h is taken modulo 24, so the request always falls within the day.
func (w *World) RequestAt(rng *rand.Rand, id uint64, h int) Request {
	h = ((h % Hours) + Hours) % Hours
	return Request{ID: id, Time: Day.Add(time.Duration(h) * time.Hour), Hour: h,
		User: int64(draw(rng, w.userCDF) + 1), Placement: draw(rng, w.placeCDF)}
}
