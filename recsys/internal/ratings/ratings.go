// Package ratings holds the recommender's interactions: a loader for the MovieLens layouts
// (ML-100K u.data, ML-1M ratings.dat, and CSV with a header, as in ML-latest and ML-25M)
// that refuses malformed input with a file and line, and Microsoft Recommenders' stratified
// train/test split, reproduced row for row (numpy's MT19937 and legacy shuffle included),
// so our metrics are computed on the same split as their published benchmark.
package ratings

import "slices"

// Rating is one interaction. Implicit data carries Value 1.
type Rating struct {
	User, Item int64
	Value      float64
	Time       int64 // Unix seconds; 0 when the source has no timestamp
	Line       int   // 1-based source line; 0 for a rating not read from a file
}

// Set is a list of ratings with the look-ups an evaluation needs. Its order is kept: the
// split's output order is pandas' row order.
type Set []Rating

// Users returns the distinct user ids in ascending order.
func (s Set) Users() []int64 { return distinct(s, func(r Rating) int64 { return r.User }) }

// Items returns the distinct item ids in ascending order.
func (s Set) Items() []int64 { return distinct(s, func(r Rating) int64 { return r.Item }) }

// ItemsByUser maps each user to the items they rated, in the set's order.
func (s Set) ItemsByUser() map[int64][]int64 {
	m := make(map[int64][]int64)
	for _, r := range s {
		m[r.User] = append(m[r.User], r.Item)
	}
	return m
}

// CountByItem maps each item to its number of ratings.
func (s Set) CountByItem() map[int64]int {
	m := make(map[int64]int)
	for _, r := range s {
		m[r.Item]++
	}
	return m
}

func distinct(s Set, key func(Rating) int64) []int64 {
	seen := make(map[int64]struct{})
	var out []int64
	for _, r := range s {
		k := key(r)
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
