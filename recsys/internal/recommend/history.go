package recommend

import (
	"slices"
	"sync"
)

// History holds the items each user already has (interactions from training and every
// click since), so a recommendation never repeats one and the item-to-item model can
// score from them. Safe for concurrent use.
type History struct {
	mu    sync.RWMutex
	users map[int64]*userHistory
}

type userHistory struct {
	order  []int64 // oldest first
	sorted []int64
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{users: map[int64]*userHistory{}} }

// NewHistoryFrom returns a history holding each user's items (oldest first).
func NewHistoryFrom(items map[int64][]int64) *History {
	h := NewHistory()
	for u, its := range items {
		for _, it := range its {
			h.Add(u, it)
		}
	}
	return h
}

// Add records that user has item; adding it again changes nothing. It reports whether
// the item was new for the user.
func (h *History) Add(user, item int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[user]
	if u == nil {
		u = &userHistory{}
		h.users[user] = u
	}
	i, found := slices.BinarySearch(u.sorted, item)
	if found {
		return false
	}
	u.sorted = slices.Insert(u.sorted, i, item)
	u.order = append(u.order, item)
	return true
}

// Snapshot appends the user's items (oldest first) to dst and returns it with the sorted
// set (a copy, safe to keep).
func (h *History) Snapshot(user int64, order, sorted []int64) ([]int64, []int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	u := h.users[user]
	if u == nil {
		return order[:0], sorted[:0]
	}
	return append(order[:0], u.order...), append(sorted[:0], u.sorted...)
}

// Len is the number of items user has.
func (h *History) Len(user int64) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if u := h.users[user]; u != nil {
		return len(u.order)
	}
	return 0
}

// Users is the number of users with any history.
func (h *History) Users() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users)
}

func contains(sorted []int64, x int64) bool {
	_, ok := slices.BinarySearch(sorted, x)
	return ok
}
