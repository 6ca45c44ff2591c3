package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"

	"github.com/casebook-ml/casebook/adsranking/sim"
)

// ErrChange reports a campaign change the inventory cannot apply.
var ErrChange = errors.New("inventory: invalid change")

// Change kinds.
const (
	Upsert = "upsert" // a new campaign (with its ads) or a replaced one (bid, targeting)
	Pause  = "pause"
	Resume = "resume"
	Budget = "budget" // the daily budget moved
)

// Change is a campaign event, as it travels on the event log.
type Change struct {
	Kind     string        `json:"kind"`
	Campaign *sim.Campaign `json:"campaign,omitempty"` // upsert
	Ads      []sim.Ad      `json:"ads,omitempty"`      // upsert: ads to add
	ID       int64         `json:"id,omitempty"`       // pause, resume, budget
	Budget   float64       `json:"budget,omitempty"`   // budget
}

// DecodeChange parses and checks one change event.
func DecodeChange(data []byte) (Change, error) {
	var c Change
	if err := json.Unmarshal(data, &c); err != nil {
		return Change{}, fmt.Errorf("%w: %v", ErrChange, err)
	}
	return c, c.validate()
}

func (c Change) validate() error {
	switch c.Kind {
	case Upsert:
		if c.Campaign == nil || c.Campaign.ID <= 0 {
			return fmt.Errorf("%w: upsert needs a campaign with an id", ErrChange)
		}
		if b := c.Campaign.BidCPC(); !(b > 0) || math.IsInf(b, 0) {
			return fmt.Errorf("%w: campaign %d bids %v per click, want > 0", ErrChange, c.Campaign.ID, b)
		}
		for _, a := range c.Ads {
			if a.ID <= 0 || a.Campaign != c.Campaign.ID || a.Format < 0 || a.Format >= len(sim.Formats) {
				return fmt.Errorf("%w: ad %d of campaign %d (format %d) is not valid here", ErrChange, a.ID, a.Campaign, a.Format)
			}
		}
	case Pause, Resume:
		if c.ID <= 0 {
			return fmt.Errorf("%w: %s needs an id", ErrChange, c.Kind)
		}
	case Budget:
		if c.ID <= 0 || !(c.Budget >= 0) || math.IsInf(c.Budget, 0) {
			return fmt.Errorf("%w: budget needs an id and a budget ≥ 0 (got %d, %v)", ErrChange, c.ID, c.Budget)
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrChange, c.Kind)
	}
	return nil
}

// Apply applies changes in order and swaps in the resulting snapshot: all of them or,
// if one is invalid, none.
func (ix *Index) Apply(changes ...Change) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old := ix.cur.Load()
	s := &Snapshot{
		ads:       append([]Ad(nil), old.ads...),
		campaigns: maps.Clone(old.campaigns),
		adsOf:     maps.Clone(old.adsOf),
		version:   old.version,
	}
	adIDs := make(map[int64]bool, len(s.ads))
	for _, a := range s.ads {
		adIDs[a.ID] = true
	}
	for _, ch := range changes {
		if err := ch.validate(); err != nil {
			return err
		}
		if ch.Kind == Upsert {
			c := *ch.Campaign
			s.campaigns[c.ID] = &c
			for _, a := range ch.Ads {
				if adIDs[a.ID] {
					return fmt.Errorf("%w: ad %d exists already", ErrChange, a.ID)
				}
				adIDs[a.ID] = true
				s.adsOf[c.ID] = append(append([]int(nil), s.adsOf[c.ID]...), len(s.ads))
				s.ads = append(s.ads, Ad{ID: a.ID, Campaign: c.ID, Format: a.Format, Quality: a.Quality})
			}
			for _, i := range s.adsOf[c.ID] {
				s.ads[i].Advertiser, s.ads[i].Category = c.Advertiser, c.Category
			}
			s.version++
			continue
		}
		c0, ok := s.campaigns[ch.ID]
		if !ok {
			return fmt.Errorf("%w: %s of campaign %d, which does not exist", ErrChange, ch.Kind, ch.ID)
		}
		c := *c0
		switch ch.Kind {
		case Pause:
			c.Paused = true
		case Resume:
			c.Paused = false
		case Budget:
			c.Budget = ch.Budget
		}
		s.campaigns[c.ID] = &c
		s.version++
	}
	ix.rebuild(s)
	ix.cur.Store(s)
	return nil
}

// SetPriorCTR sets the prior click rates used to keep the best candidates when more are
// eligible than asked for (a trainer computes them from the click log); missing ads get
// base. It rebuilds the snapshot.
func (ix *Index) SetPriorCTR(prior map[int64]float64, base float64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.priorCTR, ix.baseCTR = maps.Clone(prior), base
	old := ix.cur.Load()
	s := &Snapshot{ads: append([]Ad(nil), old.ads...), campaigns: old.campaigns, adsOf: old.adsOf, version: old.version}
	ix.rebuild(s)
	ix.cur.Store(s)
}
