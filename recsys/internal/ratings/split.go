package ratings

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Group is the column a stratified split groups by.
type Group uint8

const (
	// ByItem keeps each item's ratings in the same train/test proportion; it is what
	// Recommenders' MovieLens benchmark uses (filter_by="item").
	ByItem Group = iota
	// ByUser keeps each user's ratings in the same proportion.
	ByUser
)

func (g Group) String() string {
	switch g {
	case ByItem:
		return "item"
	case ByUser:
		return "user"
	}
	return fmt.Sprintf("Group(%d)", uint8(g))
}

// StratifiedSplit reproduces, row for row and in pandas' row order, Microsoft Recommenders'
// python_stratified_split(data, ratio, min_rating=1, filter_by=by, seed=seed) in the form
// its MovieLens benchmark was published with (reco_utils/dataset/python_splitters.py,
// _do_stratification with is_random=True):
//
//	for _, group in data.groupby(filter_by):          # ascending key, rows in input order
//	    group = group.sample(frac=1, random_state=seed) # a fresh RandomState(seed) per group
//	    train, test = np.split(group, [round(ratio * len(group))])
//
// Train holds each group's first round(ratio·n) shuffled rows (Python's round, half to
// even: 0.75·2 = 1.5 gives 2, 0.75·6 = 4.5 gives 4) and test the rest; both list the groups
// in ascending key order and, within a group, the shuffled order. Since every group starts
// from RandomState(seed), its permutation depends only on its size.
//
// Later Recommenders releases (recommenders/datasets/python_splitters.py, after issue #1705
// "python_stratified_split is very slow", 2022) replaced this loop with one np.random.rand
// draw per row and a per-group rank threshold: a faster split with the same distribution
// but other rows. This function does not reproduce that variant, so a benchmark published
// after the change was computed on a different (equally random) split.
//
// ratio must lie strictly between 0 and 1, as Recommenders requires; any other value, or
// an unknown Group, panics.
func StratifiedSplit(rs []Rating, ratio float64, seed uint32, by Group) (train, test []Rating) {
	if !(ratio > 0 && ratio < 1) {
		panic(fmt.Sprintf("ratings.StratifiedSplit: ratio %v not in (0, 1)", ratio))
	}
	var key func(Rating) int64
	switch by {
	case ByItem:
		key = func(r Rating) int64 { return r.Item }
	case ByUser:
		key = func(r Rating) int64 { return r.User }
	default:
		panic(fmt.Sprintf("ratings.StratifiedSplit: unknown group %v", by))
	}
	// A stable sort of row indices by key lists the groups in ascending key order with each
	// group's rows in input order, as pandas' groupby does.
	idx := make([]int, len(rs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(key(rs[a]), key(rs[b])) })

	perms := map[int][]int{}
	train = make([]Rating, 0, int(math.Ceil(ratio*float64(len(rs))))+1)
	test = make([]Rating, 0, len(rs)-cap(train)+1)
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && key(rs[idx[hi]]) == key(rs[idx[lo]]) {
			hi++
		}
		group := idx[lo:hi]
		n := len(group)
		perm, ok := perms[n]
		if !ok {
			perm = legacyPermutation(n, seed)
			perms[n] = perm
		}
		cut := int(math.RoundToEven(ratio * float64(n)))
		for k, p := range perm {
			if k < cut {
				train = append(train, rs[group[p]])
			} else {
				test = append(test, rs[group[p]])
			}
		}
		lo = hi
	}
	return train, test
}
