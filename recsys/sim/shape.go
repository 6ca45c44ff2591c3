package sim

import (
	"fmt"
	"slices"
)

// Shape is the summary a MovieLens description reports of a ratings log.
type Shape struct {
	Users, Items, Interactions int // users and items with at least one interaction
	Density                    float64
	UserMin, UserMedian        int
	UserMax                    int
	ItemMax                    int
	ItemsWithOne               int     // items with exactly one interaction
	ItemGini                   float64 // Gini coefficient of the interactions per item
	MeanRating                 float64
	RatingShare                [5]float64 // share of 1..5 stars (whole stars only)
	First, Last                int64      // Unix seconds
}

// ML100K is MovieLens-100K's shape: 943 users, 1,682 items and 100,000 ratings of 1 to 5
// stars (6,110 / 11,370 / 27,145 / 34,174 / 21,201), at least 20 per user, from
// 1997-09-20 03:05:10 to 1998-04-22 23:10:38 UTC, item Gini 0.629 (LensKit's data
// description); per-user median 65 and maximum 737, per-item maximum 583 (Star Wars), 141
// items rated once.
var ML100K = Shape{
	Users: 943, Items: 1682, Interactions: 100000, Density: 100000.0 / (943 * 1682),
	UserMin: 20, UserMedian: 65, UserMax: 737, ItemMax: 583, ItemsWithOne: 141, ItemGini: 0.629,
	MeanRating: 3.52986, RatingShare: [5]float64{0.0611, 0.1137, 0.27145, 0.34174, 0.21201},
	First: 874724710, Last: 893286638,
}

func (s Shape) String() string {
	return fmt.Sprintf("users=%d items=%d interactions=%d density=%.2f%% per-user min/median/max=%d/%d/%d "+
		"per-item max=%d items-with-one=%d item-gini=%.3f mean-rating=%.2f stars=%.3f days=%.0f",
		s.Users, s.Items, s.Interactions, 100*s.Density, s.UserMin, s.UserMedian, s.UserMax,
		s.ItemMax, s.ItemsWithOne, s.ItemGini, s.MeanRating, s.RatingShare, float64(s.Last-s.First)/86400)
}

// Summarize computes the shape of a log.
func Summarize(xs []Interaction) Shape {
	var sh Shape
	if len(xs) == 0 {
		return sh
	}
	users, items := map[int64]int{}, map[int64]int{}
	sh.First, sh.Last = xs[0].Time, xs[0].Time
	var sum float64
	for _, x := range xs {
		users[x.User]++
		items[x.Item]++
		sum += x.Rating
		if r := int(x.Rating); float64(r) == x.Rating && r >= 1 && r <= 5 {
			sh.RatingShare[r-1]++
		}
		sh.First, sh.Last = min(sh.First, x.Time), max(sh.Last, x.Time)
	}
	n := float64(len(xs))
	for i := range sh.RatingShare {
		sh.RatingShare[i] /= n
	}
	sh.Users, sh.Items, sh.Interactions = len(users), len(items), len(xs)
	sh.Density = n / (float64(sh.Users) * float64(sh.Items))
	sh.MeanRating = sum / n
	uc, ic := counts(users), counts(items)
	sh.UserMin, sh.UserMedian, sh.UserMax = uc[0], uc[len(uc)/2], uc[len(uc)-1]
	sh.ItemMax = ic[len(ic)-1]
	// Gini of sorted counts: Σ (2i - m + 1)·c_i / (m·Σc), i from 0.
	var g float64
	m := float64(len(ic))
	for i, c := range ic {
		if c == 1 {
			sh.ItemsWithOne++
		}
		g += (2*float64(i) - m + 1) * float64(c)
	}
	sh.ItemGini = g / (m * n)
	return sh
}

func counts(m map[int64]int) []int {
	out := make([]int, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
