package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// aliasHub shares one store watch among every Watch caller of a Registry. A server that
// follows 100 models (one follower per served alias) then keeps one poll of a filesystem
// store, or one KV watcher, instead of 100: each watch of the filesystem store reads every
// alias on every poll, so 100 of them kept a 2-core machine busy doing nothing else.
//
// The store watch starts with the first subscriber and stops when the last one's context
// ends. A subscriber that joins a running watch first gets the positions the hub has seen,
// then every move, so it converges on the latest position as a watch of its own would. Each
// subscriber has its own queue, so one that is slow to read (a follower warming a model)
// never holds back the others; a queue keeps one pending position per alias, which is all
// the store's contract promises (moves between two reads may be coalesced).
type aliasHub struct {
	store Store

	mu   sync.Mutex
	subs map[*aliasSub]struct{}
	pos  map[aliasKey]int // positions seen since the store watch started
	stop context.CancelFunc
	gen  int // the current store watch; a stale dispatcher leaves the hub alone
}

type aliasKey struct{ model, alias string }

type aliasSub struct {
	out  chan AliasEvent
	wake chan struct{} // capacity 1: something was queued, or the hub closed

	mu     sync.Mutex
	queue  []aliasKey
	latest map[aliasKey]int
	ended  bool // the store watch ended: drain the queue, then close out
}

func newAliasHub(store Store) *aliasHub {
	return &aliasHub{store: store, subs: map[*aliasSub]struct{}{}}
}

// subscribe returns a channel of alias positions until ctx ends or the store watch fails.
func (h *aliasHub) subscribe(ctx context.Context) (<-chan AliasEvent, error) {
	s := &aliasSub{out: make(chan AliasEvent, 64), wake: make(chan struct{}, 1), latest: map[aliasKey]int{}}
	h.mu.Lock()
	if h.stop == nil {
		wctx, stop := context.WithCancel(context.Background())
		events, err := h.store.WatchAliases(wctx)
		if err != nil {
			stop()
			h.mu.Unlock()
			return nil, fmt.Errorf("watch aliases: %w", err)
		}
		h.gen++
		h.stop, h.pos = stop, map[aliasKey]int{}
		go h.dispatch(h.gen, events)
	}
	keys := make([]aliasKey, 0, len(h.pos))
	for k := range h.pos {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b aliasKey) int {
		return strings.Compare(a.model+"/"+a.alias, b.model+"/"+b.alias)
	})
	for _, k := range keys {
		s.push(k, h.pos[k])
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go h.deliver(ctx, s)
	return s.out, nil
}

// dispatch copies the store watch of generation gen to every subscriber until it ends.
func (h *aliasHub) dispatch(gen int, events <-chan AliasEvent) {
	for ev := range events {
		k := aliasKey{ev.Model, ev.Alias}
		h.mu.Lock()
		if gen == h.gen {
			if ev.Version == 0 {
				delete(h.pos, k)
			} else {
				h.pos[k] = ev.Version
			}
			for s := range h.subs {
				s.push(k, ev.Version)
			}
		}
		h.mu.Unlock()
	}
	// The store watch ended: every subscriber's channel closes, as its own watch's would.
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen != h.gen {
		return
	}
	for s := range h.subs {
		s.end()
		delete(h.subs, s)
	}
	h.stop()
	h.stop = nil
}

// deliver sends s's queue to its channel until ctx ends or the hub ends s.
func (h *aliasHub) deliver(ctx context.Context, s *aliasSub) {
	defer close(s.out)
	for {
		select {
		case <-ctx.Done():
			h.leave(s)
			return
		case <-s.wake:
		}
		for {
			ev, ok, ended := s.pop()
			if ended {
				return
			}
			if !ok {
				break
			}
			select {
			case s.out <- ev:
			case <-ctx.Done():
				h.leave(s)
				return
			}
		}
	}
}

// leave removes s; the last subscriber to leave stops the store watch.
func (h *aliasHub) leave(s *aliasSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	if len(h.subs) == 0 && h.stop != nil {
		h.stop()
		h.stop = nil
		h.gen++ // the old dispatcher drains a closing channel and touches nothing
	}
}

func (s *aliasSub) push(k aliasKey, version int) {
	s.mu.Lock()
	if _, queued := s.latest[k]; !queued {
		s.queue = append(s.queue, k)
	}
	s.latest[k] = version
	s.mu.Unlock()
	s.signal()
}

func (s *aliasSub) end() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.signal()
}

func (s *aliasSub) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pop returns the oldest queued position; ended once the queue is empty after the hub
// ended the subscription.
func (s *aliasSub) pop() (ev AliasEvent, ok, ended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return AliasEvent{}, false, s.ended
	}
	k := s.queue[0]
	s.queue = s.queue[1:]
	v := s.latest[k]
	delete(s.latest, k)
	return AliasEvent{Model: k.model, Alias: k.alias, Version: v}, true, false
}
