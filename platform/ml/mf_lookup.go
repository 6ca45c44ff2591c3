package ml

import "slices"

// UserIDs returns the ids of every user the factorization has a vector for, ascending.
func (m *MF) UserIDs() []int64 { return slices.Clone(m.users) }

// ItemIDs returns the ids of every item the factorization has a vector for, ascending:
// the order of ItemVectors and ScoreAll.
func (m *MF) ItemIDs() []int64 { return slices.Clone(m.items) }

// ItemVector returns an item's embedding (a view into the model: do not modify it), or
// false for an id not seen in training.
func (m *MF) ItemVector(id int64) ([]float64, bool) {
	i := index(m.items, id)
	if i < 0 {
		return nil, false
	}
	k := m.cfg.Factors
	return m.iv[i*k : (i+1)*k : (i+1)*k], true
}
