package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// UserSampler draws user ids with Zipf-skewed frequencies, for load generation: the user
// of rank r (from 1) is drawn with probability ∝ r^-s, and ranks are dealt to ids at
// random so the hot users are spread over the id space. It is not safe for concurrent use;
// give each goroutine its own (with its own seed).
type UserSampler struct {
	rng   *rand.Rand
	table *alias
	ids   []int64
}

// NewUserSampler returns a sampler over ids 0..users-1 with exponent s (0 is uniform; 1
// is classic Zipf). It panics if users < 1 or s is negative or not finite.
func NewUserSampler(users int, s float64, seed uint64) *UserSampler {
	if users < 1 || !(s >= 0) || math.IsInf(s, 0) {
		panic(fmt.Sprintf("sim.NewUserSampler(%d, %v): want users >= 1 and a finite s >= 0", users, s))
	}
	rng := newRand(seed, 0)
	w := make([]float64, users)
	for r := range w {
		w[r] = math.Pow(float64(r+1), -s)
	}
	ids := make([]int64, users)
	for r, id := range rng.Perm(users) {
		ids[r] = int64(id)
	}
	return &UserSampler{rng: rng, table: newAlias(w), ids: ids}
}

// Next returns the next user id.
func (u *UserSampler) Next() int64 { return u.ids[u.table.draw(u.rng)] }
