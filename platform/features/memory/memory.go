// Package memory is the in-process features.OnlineStore: the local default, and the
// reference the Redis store is held to by the same conformance suite.
package memory

import (
	"context"
	"sync"

	"github.com/casebook-ml/casebook/platform/features"
)

var _ features.OnlineStore = (*Store)(nil)

// Store keeps the newest row per view and entity in maps. Safe for concurrent use.
type Store struct {
	reg  *features.Registry
	mu   sync.RWMutex
	rows map[string]map[string]features.Row // view -> entity -> row
}

// New returns an empty store for the views in reg.
func New(reg *features.Registry) *Store {
	return &Store{reg: reg, rows: map[string]map[string]features.Row{}}
}

// Write applies rows that are newer than what is stored; see features.OnlineStore.
func (s *Store) Write(ctx context.Context, view string, rows []features.Row) (features.WriteStats, error) {
	var st features.WriteStats
	if _, err := features.CheckRows(s.reg, view, rows); err != nil {
		return st, err
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.rows[view]
	if m == nil {
		m = map[string]features.Row{}
		s.rows[view] = m
	}
	for _, r := range rows {
		if old, ok := m[r.Entity]; ok && !r.Newer(&old) {
			st.Ignored++
			continue
		}
		r.Values = append([]features.Value(nil), r.Values...)
		m[r.Entity] = r
		st.Applied++
	}
	return st, nil
}

// Delete removes the entities' rows from view; see features.OnlineStore.
func (s *Store) Delete(ctx context.Context, view string, entities []string) (int, error) {
	if _, err := features.CheckDelete(s.reg, view, entities); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.rows[view]
	n := 0
	for _, e := range entities {
		if _, ok := m[e]; ok {
			delete(m, e)
			n++
		}
	}
	return n, nil
}

// Read returns the requested features with their status; see features.OnlineStore.
func (s *Store) Read(ctx context.Context, req features.ReadRequest) (*features.ReadResult, error) {
	res := &features.ReadResult{}
	if err := s.ReadInto(ctx, req, res); err != nil {
		return nil, err
	}
	return res, nil
}

var _ features.ReaderInto = (*Store)(nil)

// ReadInto implements features.ReaderInto: Read, into dst's memory.
func (s *Store) ReadInto(ctx context.Context, req features.ReadRequest, dst *features.ReadResult) error {
	rrs, at, err := features.PrepareRead(s.reg, req)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dst.At = at
	if cap(dst.Views) < len(rrs) {
		dst.Views = append(dst.Views[:cap(dst.Views)], make([]features.ViewResult, len(rrs)-cap(dst.Views))...)
	}
	dst.Views = dst.Views[:len(rrs)]
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range rrs {
		rr := &rrs[i]
		vr := &dst.Views[i]
		rr.ResetViewResult(vr)
		m := s.rows[rr.View.Name]
		for e, ent := range rr.Req.Entities {
			row, ok := m[ent]
			if !ok {
				continue
			}
			for j, fi := range rr.Indices {
				vr.Values[e*len(rr.Indices)+j] = features.Resolve(row.Values[fi], row.Time, at, rr.View.TTL)
			}
		}
	}
	return nil
}

// Close does nothing; the store lives as long as the process.
func (s *Store) Close() error { return nil }

// Len is the number of (view, entity) rows held.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, m := range s.rows {
		n += len(m)
	}
	return n
}
