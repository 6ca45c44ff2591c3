package sim

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/casebook-ml/casebook/recsys/internal/rankmetrics"
)

// exactFactor: a user who takes more than 1/exactFactor of the catalogue is sampled by
// Gumbel-top-k over every item; lighter users by rejection from the popularity alias
// table. Both draw exactly the same distribution (successive picks without replacement
// with probability ∝ exp(utility)); the switch only keeps heavy users off a rejection loop
// full of repeats, and light users of a large catalogue off a full scan.
const exactFactor = 20

// Generate draws the interaction log, ordered by time, then user, then item. Each user's
// count is fixed by the world (Activity); the user's ratings fall at times drawn over
// their active span, and the items rated before ShiftAt are drawn with the old taste, the
// rest with the new one, never an item twice. The log is the same on every call. It checks
// ctx between users.
func (s *Sim) Generate(ctx context.Context) ([]Interaction, error) {
	perUser := make([][]Interaction, s.cfg.Users)
	var next atomic.Int64
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), s.cfg.Users)
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &userState{chosen: make([]bool, s.cfg.Items)}
			for {
				u := int(next.Add(1) - 1)
				if u >= s.cfg.Users {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[w] = fmt.Errorf("generate interactions: %w", err)
					return
				}
				perUser[u] = s.userLog(u, st)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	out := make([]Interaction, 0, s.cfg.Interactions)
	for _, xs := range perUser {
		out = append(out, xs...)
	}
	slices.SortFunc(out, func(a, b Interaction) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.User, b.User), cmp.Compare(a.Item, b.Item))
	})
	return out, nil
}

// userState is one worker's scratch space.
type userState struct {
	chosen []bool // by item, reset after each user
	keys   []float64
	picked []int
}

func (s *Sim) userLog(u int, st *userState) []Interaction {
	cfg := s.cfg
	rng := newRand(cfg.Seed, streamLog|uint64(u))
	n := s.activity[u]
	period := cfg.Period.Seconds()
	start := rng.Float64() * period
	span := min(rng.ExpFloat64()*cfg.MeanSpan.Seconds(), period-start)
	t0 := cfg.Start.Unix()
	times := make([]int64, n)
	for j := range times {
		times[j] = t0 + int64(start+rng.Float64()*span)
	}
	slices.Sort(times)
	before := n
	if s.shifted != nil {
		before, _ = slices.BinarySearch(times, s.shiftAt)
	}
	exact := n*exactFactor > cfg.Items
	out := make([]Interaction, 0, n)
	st.picked = st.picked[:0]
	for _, phase := range [][]int64{times[:before], times[before:]} {
		if len(phase) == 0 {
			continue
		}
		taste := s.tasteAt(int64(u), phase[0])
		from := len(st.picked)
		if exact {
			s.pickGumbel(rng, taste, len(phase), st)
		} else {
			s.pickRejection(rng, taste, len(phase), st)
		}
		items := st.picked[from:]
		rng.Shuffle(len(items), func(a, b int) { items[a], items[b] = items[b], items[a] })
		for j, it := range items {
			out = append(out, Interaction{User: int64(u), Item: int64(it), Rating: s.rating(rng, taste, it), Time: phase[j]})
		}
	}
	for _, it := range st.picked {
		st.chosen[it] = false
	}
	return out
}

// pickGumbel appends k items not yet chosen, drawn without replacement ∝ exp(utility): the
// k largest utility + Gumbel noise (utility - ln E with E exponential).
func (s *Sim) pickGumbel(rng *rand.Rand, taste []float64, k int, st *userState) {
	st.keys = slices.Grow(st.keys[:0], s.cfg.Items)[:s.cfg.Items]
	for i := range st.keys {
		if !st.chosen[i] {
			st.keys[i] = s.utility(taste, int64(i)) - math.Log(rng.ExpFloat64())
		}
	}
	for _, i := range rankmetrics.TopK(st.keys, func(i int) bool { return st.chosen[i] }, k) {
		st.chosen[i] = true
		st.picked = append(st.picked, i)
	}
}

// pickRejection appends k items not yet chosen, one at a time: propose by popularity,
// accept with probability exp(TasteScale·(⟨taste, item⟩ - 1)) ≤ 1 (unit vectors), and
// propose again on a repeat, which draws each next item ∝ exp(utility) among those not yet
// chosen. Acceptance compares TasteScale·(1 - ⟨taste, item⟩) with an exponential draw
// (-ln U), which saves an exp per proposal.
func (s *Sim) pickRejection(rng *rand.Rand, taste []float64, k int, st *userState) {
	d := s.cfg.Dim
	scale := s.cfg.TasteScale
	budget := 100*k + 10000
	for got := 0; got < k; budget-- {
		if budget == 0 {
			// Repeats dominate (a catalogue whose popularity mass sits on few items): the
			// rest of the picks are the same draw without replacement among the items not
			// yet chosen, which Gumbel-top-k makes exactly.
			s.pickGumbel(rng, taste, k-got, st)
			return
		}
		i := s.popAlias.draw(rng)
		if st.chosen[i] {
			continue
		}
		if scale*(1-dot(taste, s.itemVec[i*d:(i+1)*d])) >= rng.ExpFloat64() {
			continue
		}
		st.chosen[i] = true
		st.picked = append(st.picked, i)
		got++
	}
}

func (s *Sim) rating(rng *rand.Rand, taste []float64, item int) float64 {
	c := s.cfg
	r := c.RatingTop + c.RatingSlope*(s.utility(taste, int64(item))-s.best) + c.RatingNoise*rng.NormFloat64()
	return min(max(math.Round(r), 1), 5)
}
