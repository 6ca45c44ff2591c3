// Package ctr is the ad-auction case study's click model: the features a bidder has for a
// (request, ad) pair, a click log with known click probabilities, and training of a
// factorization machine (platform/ml) that learns the click probability of a seen ad with
// the position effect removed, estimated from a randomized slice of traffic, and gated in
// the registry against the generator's own (Bayes-optimal) log loss.
package ctr

import (
	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/ml"
)

// Schema is the click model's input: every field categorical, hashed by the model. The
// first sim.NumContextFields describe the request, the rest the ad.
var Schema = func() ml.Schema {
	fs := make([]ml.Feature, len(sim.FieldNames))
	for i, n := range sim.FieldNames {
		fs[i] = ml.Feature{Name: n, Type: ml.Categorical}
	}
	return ml.Schema{Features: fs}
}()

// NumAdFields is the number of fields an ad contributes.
var NumAdFields = len(sim.FieldNames) - sim.NumContextFields

// Profile is what the bidder knows of a user: geo and device from the request, interest
// segments and age bucket from the online profile store. -1 marks an unknown value, which
// the model hashes as a value of its own.
type Profile struct {
	Geo, Device, Age int
	Segments         [2]int
}

// UnknownProfile is a user the profile store has never seen.
var UnknownProfile = Profile{Geo: -1, Device: -1, Age: -1, Segments: [2]int{-1, -1}}

// ProfileOf is the profile of a simulated user.
func ProfileOf(u *sim.User) Profile {
	return Profile{Geo: u.Geo, Device: u.Device, Age: u.Age, Segments: u.Segments}
}

// ContextRow appends the request's fields: the profile, the placement, the hour and the
// placement's content category.
func ContextRow(p Profile, placement, hour, sitecat int, dst []float64) []float64 {
	return append(dst, float64(p.Geo), float64(p.Device), float64(p.Segments[0]), float64(p.Segments[1]), float64(p.Age),
		float64(placement), float64(hour), float64(sitecat))
}

// AdRow appends the ad's fields.
func AdRow(a *inventory.Ad, dst []float64) []float64 {
	return append(dst, float64(a.ID), float64(a.Campaign), float64(a.Advertiser), float64(a.Category), float64(a.Format))
}
