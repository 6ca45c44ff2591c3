package sim

import "github.com/casebook-ml/casebook/recsys/internal/ratings"

// Ratings turns simulated interactions into the recommender's ratings, in the same order
// (Line is the 1-based position, as if read from a u.data file).
func Ratings(xs []Interaction) []ratings.Rating {
	rs := make([]ratings.Rating, len(xs))
	for i, x := range xs {
		rs[i] = ratings.Rating{User: x.User, Item: x.Item, Value: x.Rating, Time: x.Time, Line: i + 1}
	}
	return rs
}
