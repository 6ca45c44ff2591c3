package ml

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// The trainers of an MF that learn from implicit feedback (positives only) rather than
// from labelled rows. MFConfig.Trainer records which one fitted a model; empty means TrainMF.
const (
	TrainerBPR  = "bpr"
	TrainerIALS = "ials"
)

// maxExactID is the largest id a float64 feature value carries exactly (2^53).
const maxExactID = 1 << 53

// InteractionDataset builds the dataset the implicit trainers (TrainBPR, TrainIALS) read
// from parallel id slices: one positive (users[i], items[i]) event per index, schema
// [user_id categorical, item_id categorical], every label 1.
func InteractionDataset(users, items []int64) (Dataset, error) {
	if len(users) != len(items) {
		return Dataset{}, fmt.Errorf("%w: %d users for %d items", ErrShape, len(users), len(items))
	}
	if len(users) == 0 {
		return Dataset{}, ErrEmpty
	}
	d := Dataset{
		Schema: Schema{Features: []Feature{{Name: "user_id", Type: Categorical}, {Name: "item_id", Type: Categorical}}},
		X:      make([]float64, 0, 2*len(users)),
		Y:      make([]float64, len(users)),
	}
	for i := range users {
		if users[i] > maxExactID || users[i] < -maxExactID || items[i] > maxExactID || items[i] < -maxExactID {
			return Dataset{}, fmt.Errorf("%w: event %d: id (%d, %d) is beyond ±2^53 and would not survive a float64 feature", ErrShape, i, users[i], items[i])
		}
		d.X = append(d.X, float64(users[i]), float64(items[i]))
		d.Y[i] = 1
	}
	return d, nil
}

// interactions is implicit feedback in compressed sparse rows, both ways round. Ids are
// every id seen in the dataset (so a model has a row for each); only rows with a positive
// label become interactions, and repeated (user, item) rows add their labels into one
// weight.
type interactions struct {
	users, items []int64 // sorted distinct ids
	// The items of user u are uidx[uptr[u]:uptr[u+1]] (ascending indexes into items),
	// with weights uw; likewise the users of item i are iidx[iptr[i]:iptr[i+1]] with iw.
	uptr, iptr []int
	uidx, iidx []int32
	uw, iw     []float64
}

// newInteractions reads a [user, item] dataset; rows labelled 0 contribute ids only.
func newInteractions(d Dataset) (*interactions, error) {
	if err := checkMFSchema(d.Schema); err != nil {
		return nil, err
	}
	if err := d.Validate(false); err != nil {
		return nil, err
	}
	ix := &interactions{users: sortedIDs(d.X, 0), items: sortedIDs(d.X, 1)}
	type event struct {
		u, i int32
		w    float64
	}
	ev := make([]event, 0, d.Rows())
	for r, y := range d.Y {
		if y > 0 {
			ev = append(ev, event{int32(index(ix.users, int64(d.X[2*r]))), int32(index(ix.items, int64(d.X[2*r+1]))), y})
		}
	}
	if len(ev) == 0 {
		return nil, fmt.Errorf("%w: no row has a positive label", ErrEmpty)
	}
	slices.SortStableFunc(ev, func(a, b event) int {
		if c := cmp.Compare(a.u, b.u); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	// Merge repeats in place, in row order, so the sums do not depend on anything but d.
	n := 0
	for _, e := range ev {
		if n > 0 && ev[n-1].u == e.u && ev[n-1].i == e.i {
			ev[n-1].w += e.w
			continue
		}
		ev[n] = e
		n++
	}
	ev = ev[:n]
	nu, ni := len(ix.users), len(ix.items)
	ix.uptr, ix.iptr = make([]int, nu+1), make([]int, ni+1)
	ix.uidx, ix.uw = make([]int32, n), make([]float64, n)
	ix.iidx, ix.iw = make([]int32, n), make([]float64, n)
	for k, e := range ev {
		ix.uptr[e.u+1]++
		ix.iptr[e.i+1]++
		ix.uidx[k], ix.uw[k] = e.i, e.w
	}
	for u := range nu {
		ix.uptr[u+1] += ix.uptr[u]
	}
	for i := range ni {
		ix.iptr[i+1] += ix.iptr[i]
	}
	next := slices.Clone(ix.iptr[:ni])
	for _, e := range ev { // ev is sorted by user, so each item's users come out ascending
		p := next[e.i]
		next[e.i]++
		ix.iidx[p], ix.iw[p] = e.u, e.w
	}
	return ix, nil
}

// pairs is the number of distinct positive (user, item) pairs.
func (ix *interactions) pairs() int { return len(ix.uidx) }

// userItems is user u's positive item indexes, ascending.
func (ix *interactions) userItems(u int) []int32 { return ix.uidx[ix.uptr[u]:ix.uptr[u+1]] }

// newImplicitMF allocates an MF over the interactions' ids with both embedding tables drawn
// from N(0, std²) by the seeded generator (users first, then items) and zero biases.
func newImplicitMF(s Schema, cfg MFConfig, ix *interactions, rng *rand.Rand, std float64) *MF {
	k := cfg.Factors
	m := &MF{schema: s, cfg: cfg, users: ix.users, items: ix.items}
	m.ub, m.ib = make([]float64, len(m.users)), make([]float64, len(m.items))
	m.uv, m.iv = make([]float64, len(m.users)*k), make([]float64, len(m.items)*k)
	for _, t := range [][]float64{m.uv, m.iv} {
		for i := range t {
			t[i] = rng.NormFloat64() * std
		}
	}
	return m
}

func vdot(a, b []float64) float64 {
	b = b[:len(a)]
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
