package live

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/casebook-ml/casebook/adsranking/events"
	"github.com/casebook-ml/casebook/adsranking/internal/bidder"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
)

// Exchange plays the exchange and its users for simulated requests: it shows each winner
// with probability ShowRate (the rest never render: their reservations expire), reports
// the impression on the event log, and draws the click from the world's truth in the slot
// the ad was shown in. It is the simulation's side; the bidder never sees the truth.
type Exchange struct {
	World    *sim.World
	Log      *eventlog.Log
	ShowRate float64
	rng      *rand.Rand
}

// NewExchange seeds an exchange.
func NewExchange(w *sim.World, l *eventlog.Log, showRate float64, seed uint64) *Exchange {
	return &Exchange{World: w, Log: l, ShowRate: showRate, rng: rand.New(rand.NewPCG(seed, 77))}
}

// Delivery is what the exchange did with one answer.
type Delivery struct {
	Impressions []events.Impression
	Clicks      []events.Click
}

// Deliver shows r's winners and publishes their impressions and clicks, stamped at.
func (x *Exchange) Deliver(ctx context.Context, r sim.Request, out bidder.Outcome, position []float64, at time.Time) (Delivery, error) {
	var d Delivery
	if !out.Bid {
		return d, nil
	}
	u := x.World.User(r.User)
	tc := x.World.Truth().NewContext(u, r.Placement, out.Hour)
	var evs []eventlog.Event
	for _, w := range out.Winners {
		if x.rng.Float64() >= x.ShowRate {
			continue
		}
		imp := events.Impression{Request: r.IDString(), Time: at, Slot: w.Slot, Ad: w.Ad, Campaign: w.Campaign, Model: out.Model,
			PCTR: w.PCTR * position[w.Slot], Cost: w.CostPerImpression, Reserved: uint64(w.Reserved)}
		d.Impressions = append(d.Impressions, imp)
		data, _ := json.Marshal(imp)
		evs = append(evs, eventlog.Event{ID: imp.ID(), Subject: events.SubjectImpress, Time: at, Data: data})
		if x.rng.Float64() < x.World.Truth().ClickProb(tc, w.Ad, w.Slot) {
			c := events.Click{Request: imp.Request, Time: at.Add(time.Duration(x.rng.ExpFloat64() * float64(20*time.Second))), Slot: w.Slot, Ad: w.Ad, Campaign: w.Campaign, Model: out.Model}
			d.Clicks = append(d.Clicks, c)
			data, _ := json.Marshal(c)
			evs = append(evs, eventlog.Event{ID: c.ID(), Subject: events.SubjectClick, Time: c.Time, Data: data})
		}
	}
	if len(evs) == 0 {
		return d, nil
	}
	_, err := x.Log.PublishBatch(ctx, evs)
	return d, err
}
