package features

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// EraseStats says what Forget or Purge removed from the offline store. It holds counts only,
// never an entity key or a value, so it can go into an audit log.
type EraseStats struct {
	// Rows is the number of rows removed from the current partition versions.
	Rows int `json:"rows"`
	// Partitions is the number of view-days rewritten or dropped.
	Partitions int `json:"partitions"`
	// Files is the number of Parquet files deleted from disk, superseded versions included.
	Files int `json:"files"`
}

// Forget removes every row of the given entities from a view: the right to be forgotten.
// Each day whose current version holds one of them gets a new version without them, and
// every file that held one, current or superseded, is deleted from disk and from the
// manifest's history (a superseded version that held the subject is dropped from Replaced).
// The other entities' rows are kept as they were. A Scan that listed its files before the
// Forget may find one deleted under it and fail; it can be retried.
func (o *OfflineStore) Forget(ctx context.Context, view string, entities []string, reason string) (EraseStats, error) {
	if len(entities) == 0 {
		return EraseStats{}, nil
	}
	set := make(map[string]bool, len(entities))
	for i, e := range entities {
		if e == "" {
			return EraseStats{}, fmt.Errorf("offline forget view %q entity %d: %w", view, i, ErrEmptyEntityKey)
		}
		set[e] = true
	}
	return o.erase(ctx, view, reason, func(r *Row) bool { return set[r.Entity] }, nil)
}

// Purge removes the rows of a view with an event time before cutoff: a retention policy
// ("keep 90 days") applied to the offline store. Days entirely before the cutoff are dropped
// with every file they ever had; the day the cutoff falls in is rewritten without its older
// rows.
func (o *OfflineStore) Purge(ctx context.Context, view string, cutoff time.Time, reason string) (EraseStats, error) {
	if cutoff.IsZero() {
		return EraseStats{}, fmt.Errorf("%w: offline purge view %q: zero cutoff", ErrInvalidValue, view)
	}
	mayHold := func(f PartitionFile) bool { return f.MinTime.Before(cutoff) }
	return o.erase(ctx, view, reason, func(r *Row) bool { return r.Time.Before(cutoff) }, mayHold)
}

// erase removes the rows drop matches. mayHold, when set, says from the manifest alone
// whether a file can hold such a row, so that files which cannot are not read.
func (o *OfflineStore) erase(ctx context.Context, view, reason string, drop func(*Row) bool, mayHold func(PartitionFile) bool) (EraseStats, error) {
	var st EraseStats
	if reason == "" {
		return st, fmt.Errorf("%w: offline erase view %q: a reason is required", ErrInvalidValue, view)
	}
	v, err := o.reg.View(view)
	if err != nil {
		return st, fmt.Errorf("offline erase: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	vm := o.m.Views[view]
	if vm == nil {
		return st, nil
	}
	fs, err := o.schema(v)
	if err != nil {
		return st, err
	}
	days := make([]string, 0, len(vm.Partitions))
	for d := range vm.Partitions {
		days = append(days, d)
	}
	sort.Strings(days)

	now := time.Now().UTC()
	intern := map[string]string{}
	next := make(map[string]*Partition, len(vm.Partitions)) // nil value: the day is dropped
	var written []string                                    // new files, removed again on failure
	var doomed []string                                     // files to delete once the manifest is saved
	fail := func(err error) (EraseStats, error) {
		for _, p := range written {
			os.Remove(filepath.Join(o.cfg.Dir, p))
		}
		return EraseStats{}, err
	}
	for _, d := range days {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		p := vm.Partitions[d]
		all := map[string]PartitionFile{}
		for _, f := range p.Files {
			all[f.Path] = f
		}
		for _, r := range p.Replaced {
			for _, f := range r.Files {
				all[f.Path] = f
			}
		}
		// Which files hold a row to drop, and the rows of the current version to keep.
		tainted := map[string]bool{}
		current := map[string]bool{}
		for _, f := range p.Files {
			current[f.Path] = true
		}
		var keep []Row
		removed := 0
		paths := make([]string, 0, len(all))
		for path := range all {
			paths = append(paths, path)
		}
		sort.Strings(paths)
		for _, path := range paths {
			f := all[path]
			if mayHold != nil && !mayHold(f) {
				if current[path] {
					rows, err := readParquet(filepath.Join(o.cfg.Dir, path), fs, -1<<63, 0, intern, nil, o.opener(f))
					if err != nil {
						return fail(fmt.Errorf("offline erase %s/%s: %w", view, d, err))
					}
					keep = append(keep, rows...)
				}
				continue
			}
			rows, err := readParquet(filepath.Join(o.cfg.Dir, path), fs, -1<<63, 0, intern, nil, o.opener(f))
			if err != nil {
				return fail(fmt.Errorf("offline erase %s/%s: %w", view, d, err))
			}
			n := 0
			for i := range rows {
				if drop(&rows[i]) {
					n++
				} else if current[path] {
					keep = append(keep, rows[i])
				}
			}
			if n > 0 {
				tainted[path] = true
				if current[path] {
					removed += n
				}
			}
		}
		if len(tainted) == 0 {
			continue
		}
		st.Partitions++
		st.Rows += removed
		if len(keep) == 0 && currentTainted(p.Files, tainted) {
			next[d] = nil
			for path := range all {
				doomed = append(doomed, path)
			}
			continue
		}
		np := &Partition{Version: p.Version, Files: p.Files, Reason: p.Reason, Written: p.Written}
		if currentTainted(p.Files, tainted) {
			sortRows(keep)
			np = &Partition{Version: p.Version + 1, Reason: reason, Written: now}
			rel := filepath.Join("views", view, d, fmt.Sprintf("v%04d-0.parquet", np.Version))
			path := filepath.Join(o.cfg.Dir, rel)
			if err := writeParquet(path, fs, keep, o.cfg.RowGroupSize, o.sealerFor(rel)); err != nil {
				return fail(fmt.Errorf("offline erase %s/%s: %w", view, d, err))
			}
			written = append(written, rel)
			sum, err := fileSHA256(path)
			if err != nil {
				return fail(err)
			}
			np.Files = []PartitionFile{{Path: rel, Rows: len(keep), MinTime: minTime(keep), MaxTime: maxTime(keep), SHA256: sum, KeyID: o.cfg.Keyring.SealKeyID()}}
		}
		// History keeps only the versions that never held a dropped row.
		for _, r := range p.Replaced {
			if !currentTainted(r.Files, tainted) {
				np.Replaced = append(np.Replaced, r)
			}
		}
		if np.Version != p.Version && !currentTainted(p.Files, tainted) {
			np.Replaced = append(np.Replaced, PartitionVersion{Version: p.Version, Files: p.Files, Reason: p.Reason, Written: p.Written})
		}
		still := map[string]bool{}
		for _, f := range np.Files {
			still[f.Path] = true
		}
		for _, r := range np.Replaced {
			for _, f := range r.Files {
				still[f.Path] = true
			}
		}
		for path := range all {
			if !still[path] {
				doomed = append(doomed, path)
			}
		}
		next[d] = np
	}
	if len(next) == 0 {
		return st, nil
	}
	prev := vm.Partitions
	vm.Partitions = make(map[string]*Partition, len(prev))
	for d, p := range prev {
		if np, ok := next[d]; !ok {
			vm.Partitions[d] = p
		} else if np != nil {
			vm.Partitions[d] = np
		}
	}
	if err := o.saveManifest(); err != nil {
		vm.Partitions = prev
		return fail(err)
	}
	var errs []error
	for _, path := range doomed {
		if err := os.Remove(filepath.Join(o.cfg.Dir, path)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		st.Files++
	}
	if err := errors.Join(errs...); err != nil {
		return st, fmt.Errorf("offline erase %s: manifest updated, but files still on disk: %w", view, err)
	}
	o.logger.Info("erased rows", "view", view, "rows", st.Rows, "partitions", st.Partitions, "files", st.Files, "reason", reason)
	return st, nil
}

func currentTainted(files []PartitionFile, tainted map[string]bool) bool {
	for _, f := range files {
		if tainted[f.Path] {
			return true
		}
	}
	return false
}
