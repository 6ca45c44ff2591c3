package features

import (
	"context"
	"fmt"
	"time"
)

// OnlineStore serves the newest values of each entity's features at low latency. It is the
// seam between the feature store and its engines: Redis in production, memory locally.
//
// Every implementation honours the same contract, proven by featurestest.RunConformance:
//   - Write validates every row before it writes any (unknown view, wrong type, empty
//     entity key, NaN or ±Inf, wrong vector length: an error and nothing written).
//   - Per entity and view, a row replaces the stored one only if it is newer by (Time,
//     Seq): writing the same row twice, or an older row after a newer one, changes nothing.
//   - Read enforces the view's TTL against ReadRequest.At: an expired value comes back
//     Stale and without its value, never as present.
//   - Delete removes the entities' rows from a view (the right to be forgotten) and
//     returns how many it held; a deleted entity reads Missing until a new row is written.
//   - A store that does not answer within its timeout returns an *UnavailableError.
type OnlineStore interface {
	Write(ctx context.Context, view string, rows []Row) (WriteStats, error)
	Read(ctx context.Context, req ReadRequest) (*ReadResult, error)
	Delete(ctx context.Context, view string, entities []string) (int, error)
	Close() error
}

// WriteStats says how many rows replaced a stored one and how many were not newer.
type WriteStats struct {
	Applied, Ignored int
}

// ReadRequest asks for features of many entities across views, answered in one round trip.
type ReadRequest struct {
	// At is the read time the TTL is measured from; zero means now.
	At    time.Time
	Views []ViewRequest
}

// ViewRequest asks one view for some features (nil: all) of some entities.
type ViewRequest struct {
	View     string
	Features []string
	Entities []string
}

// ReadResult holds one ViewResult per ViewRequest, in request order.
type ReadResult struct {
	At    time.Time
	Views []ViewResult
}

// ViewResult is an entity × feature table of values.
type ViewResult struct {
	View     string
	Features []string
	Entities []string
	Values   []FeatureValue // row-major: Values[e*len(Features)+f]
}

// Get returns the value of feature f for entity e (both indices into the request).
func (v ViewResult) Get(e, f int) FeatureValue { return v.Values[e*len(v.Features)+f] }

// ResolvedRead is a validated ViewRequest: the view and the positions of the features.
type ResolvedRead struct {
	View    *FeatureView
	Names   []string
	Indices []int
	Req     ViewRequest
}

// PrepareRead validates a request against the registry, for OnlineStore implementations.
func PrepareRead(reg *Registry, req ReadRequest) ([]ResolvedRead, time.Time, error) {
	at := req.At
	if at.IsZero() {
		at = time.Now()
	}
	out := make([]ResolvedRead, len(req.Views))
	for i, vr := range req.Views {
		v, err := reg.View(vr.View)
		if err != nil {
			return nil, at, fmt.Errorf("read: %w", err)
		}
		rr := ResolvedRead{View: v, Req: vr}
		if vr.Features == nil {
			rr.Names = v.FeatureNames()
			rr.Indices = make([]int, len(v.Features))
			for j := range rr.Indices {
				rr.Indices[j] = j
			}
		} else {
			rr.Names = vr.Features
			rr.Indices = make([]int, len(vr.Features))
			for j, f := range vr.Features {
				if rr.Indices[j], err = v.FeatureIndex(f); err != nil {
					return nil, at, fmt.Errorf("read: %w", err)
				}
			}
		}
		for _, e := range vr.Entities {
			if e == "" {
				return nil, at, fmt.Errorf("read view %q: %w", vr.View, ErrEmptyEntityKey)
			}
		}
		out[i] = rr
	}
	return out, at, nil
}

// NewViewResult allocates the table for a resolved read.
func (rr *ResolvedRead) NewViewResult() ViewResult {
	var vr ViewResult
	rr.ResetViewResult(&vr)
	return vr
}

// ResetViewResult shapes vr for a resolved read, reusing its Values when they are large
// enough; every value is cleared (Missing).
func (rr *ResolvedRead) ResetViewResult(vr *ViewResult) {
	n := len(rr.Req.Entities) * len(rr.Names)
	vr.View, vr.Features, vr.Entities = rr.View.Name, rr.Names, rr.Req.Entities
	if cap(vr.Values) < n {
		vr.Values = make([]FeatureValue, n)
		return
	}
	vr.Values = vr.Values[:n]
	clear(vr.Values)
}

// ReaderInto is implemented by stores that can answer a read into the caller's result,
// reusing its memory: a request that reads a few hundred entities per call otherwise
// allocates a fresh table every time (a recommender's candidates, an auction's ads).
type ReaderInto interface {
	ReadInto(ctx context.Context, req ReadRequest, dst *ReadResult) error
}

// ReadInto reads through store into dst: in place where the store implements ReaderInto,
// otherwise by Read (dst then takes the store's fresh result).
func ReadInto(ctx context.Context, store OnlineStore, req ReadRequest, dst *ReadResult) error {
	if ri, ok := store.(ReaderInto); ok {
		return ri.ReadInto(ctx, req, dst)
	}
	res, err := store.Read(ctx, req)
	if err != nil {
		return err
	}
	*dst = *res
	return nil
}

// CheckRows validates rows for a view, for OnlineStore implementations and the offline
// store: nothing may be written if this fails.
func CheckRows(reg *Registry, view string, rows []Row) (*FeatureView, error) {
	v, err := reg.View(view)
	if err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	for i := range rows {
		r := &rows[i]
		if r.Entity == "" {
			return nil, fmt.Errorf("write view %q row %d: %w", view, i, ErrEmptyEntityKey)
		}
		if r.Time.IsZero() || r.Time.UnixNano() < 0 {
			return nil, fmt.Errorf("%w: write view %q row %d (entity %q): event time %v is not after 1970", ErrInvalidValue, view, i, r.Entity, r.Time)
		}
		if len(r.Values) != len(v.Features) {
			return nil, fmt.Errorf("%w: write view %q row %d (entity %q): %d values for %d features", ErrWrongType, view, i, r.Entity, len(r.Values), len(v.Features))
		}
		for j, val := range r.Values {
			if err := val.check(v.Features[j]); err != nil {
				return nil, fmt.Errorf("write view %q row %d (entity %q): %w", view, i, r.Entity, err)
			}
		}
	}
	return v, nil
}

// CheckDelete validates a Delete for OnlineStore implementations: a known view and no empty
// entity key.
func CheckDelete(reg *Registry, view string, entities []string) (*FeatureView, error) {
	v, err := reg.View(view)
	if err != nil {
		return nil, fmt.Errorf("delete: %w", err)
	}
	for i, e := range entities {
		if e == "" {
			return nil, fmt.Errorf("delete view %q entity %d: %w", view, i, ErrEmptyEntityKey)
		}
	}
	return v, nil
}
