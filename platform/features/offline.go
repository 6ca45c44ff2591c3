package features

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/seal"
)

// OfflineConfig says where the offline store lives.
type OfflineConfig struct {
	// Dir holds manifest.json and the partition files.
	Dir string
	// RowGroupSize is the number of rows per Parquet row group.
	RowGroupSize int
	// Logger receives what was written; nil discards.
	Logger *slog.Logger
	// Keyring, when it holds a key, seals every Parquet file the store writes (AES-256-GCM,
	// whole file) and opens sealed files on read; nil writes them in the clear. See
	// sealed.go.
	Keyring *seal.Keyring
}

// DefaultOfflineConfig keeps the store under ./.casebook/features.
func DefaultOfflineConfig() OfflineConfig {
	return OfflineConfig{Dir: filepath.Join(".casebook", "features"), RowGroupSize: 64 << 10}
}

// Validate names every problem.
func (c OfflineConfig) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("Dir is empty"))
	}
	if c.RowGroupSize < 1 {
		errs = append(errs, fmt.Errorf("RowGroupSize must be positive, got %d", c.RowGroupSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: offline store: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Manifest is the offline store's table of contents: for each view its definition and, per
// UTC day, the current version of the partition and the versions it replaced.
type Manifest struct {
	Views map[string]*ViewManifest `json:"views"`
}

// ViewManifest is one view in the manifest.
type ViewManifest struct {
	Spec       FeatureView           `json:"spec"`
	Hash       string                `json:"hash"`
	Partitions map[string]*Partition `json:"partitions"` // by day, "2006-01-02"
}

// Partition is one view-day. Files are immutable; a new version lists a new set of files.
type Partition struct {
	Version  int                `json:"version"`
	Files    []PartitionFile    `json:"files"`
	Reason   string             `json:"reason"`
	Written  time.Time          `json:"written"`
	Replaced []PartitionVersion `json:"replaced,omitempty"`
}

// PartitionVersion is a superseded version, kept for audit and for reading as of the past.
type PartitionVersion struct {
	Version int             `json:"version"`
	Files   []PartitionFile `json:"files"`
	Reason  string          `json:"reason"`
	Written time.Time       `json:"written"`
}

// PartitionFile is one immutable Parquet file.
type PartitionFile struct {
	Path    string    `json:"path"` // relative to Dir
	Rows    int       `json:"rows"`
	MinTime time.Time `json:"min_time"`
	MaxTime time.Time `json:"max_time"`
	SHA256  string    `json:"sha256"` // of the file as stored (sealed or not)
	// KeyID is the id of the data key the file is sealed with; "" when in the clear.
	KeyID string `json:"key_id,omitempty"`
}

// Rows is the partition's row count.
func (p *Partition) Rows() int {
	n := 0
	for _, f := range p.Files {
		n += f.Rows
	}
	return n
}

// OfflineStore keeps every row a view ever produced in immutable Parquet files, partitioned
// by view and UTC day, under a manifest. Safe for concurrent use within one process; one
// process writes a directory at a time.
type OfflineStore struct {
	cfg     OfflineConfig
	reg     *Registry
	logger  *slog.Logger
	mu      sync.Mutex
	m       Manifest
	schemas map[string]*fileSchema
}

// OpenOffline opens (or creates) the store in cfg.Dir. Views recorded in the manifest are
// registered in reg (without transforms) if reg does not hold them yet; a view registered
// with a different definition than the manifest's is an error.
func OpenOffline(cfg OfflineConfig, reg *Registry) (*OfflineStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("offline store: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := &OfflineStore{cfg: cfg, reg: reg, logger: logger.With("component", "features/offline"), schemas: map[string]*fileSchema{}}
	o.m.Views = map[string]*ViewManifest{}
	b, err := os.ReadFile(o.manifestPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("offline store: %w", err)
	default:
		if err := json.Unmarshal(b, &o.m); err != nil {
			return nil, fmt.Errorf("offline store: manifest %s: %w", o.manifestPath(), err)
		}
	}
	for name, vm := range o.m.Views {
		if err := reg.RegisterView(vm.Spec); err != nil {
			return nil, fmt.Errorf("offline store: view %q in the manifest: %w", name, err)
		}
	}
	return o, nil
}

// Dir is where the store lives.
func (o *OfflineStore) Dir() string { return o.cfg.Dir }

func (o *OfflineStore) manifestPath() string { return filepath.Join(o.cfg.Dir, "manifest.json") }

// Manifest returns a deep copy of the manifest.
func (o *OfflineStore) Manifest() Manifest {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, _ := json.Marshal(o.m)
	var m Manifest
	_ = json.Unmarshal(b, &m)
	return m
}

func dayKey(t time.Time) string { return t.UTC().Format("2006-01-02") }

// Append adds rows to their views' day partitions: each day touched gets a new immutable
// file and a new partition version listing the old files plus the new one. Rows are
// validated first; if any is bad nothing is written.
func (o *OfflineStore) Append(ctx context.Context, view string, rows []Row) error {
	return o.write(ctx, view, rows, false, "append")
}

// Rewrite replaces the partitions of the days the rows fall in with new versions holding
// exactly these rows (a backfill). Older versions stay on disk and in the manifest.
func (o *OfflineStore) Rewrite(ctx context.Context, view string, rows []Row, reason string) error {
	return o.write(ctx, view, rows, true, reason)
}

func (o *OfflineStore) write(ctx context.Context, view string, rows []Row, replace bool, reason string) error {
	v, err := CheckRows(o.reg, view, rows)
	if err != nil {
		return fmt.Errorf("offline %s: %w", reason, err)
	}
	if len(rows) == 0 {
		return nil
	}
	byDay := map[string][]Row{}
	for _, r := range rows {
		d := dayKey(r.Time)
		byDay[d] = append(byDay[d], r)
	}
	days := make([]string, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	sort.Strings(days)

	o.mu.Lock()
	defer o.mu.Unlock()
	fs, err := o.schema(v)
	if err != nil {
		return err
	}
	vm := o.m.Views[view]
	if vm == nil {
		vm = &ViewManifest{Spec: v.Spec(), Hash: v.Hash(), Partitions: map[string]*Partition{}}
	} else if vm.Hash != v.Hash() {
		return fmt.Errorf("%w: offline store holds view %q with definition %s, writing %s", ErrInvalidDefinition, view, vm.Hash, v.Hash())
	}
	now := time.Now().UTC()
	updated := map[string]*Partition{}
	for _, d := range days {
		if err := ctx.Err(); err != nil {
			return err
		}
		dr := byDay[d]
		sortRows(dr)
		old := vm.Partitions[d]
		next := &Partition{Version: 1, Reason: reason, Written: now}
		if old != nil {
			next.Version = old.Version + 1
			next.Replaced = append(append([]PartitionVersion(nil), old.Replaced...),
				PartitionVersion{Version: old.Version, Files: old.Files, Reason: old.Reason, Written: old.Written})
			if !replace {
				next.Files = append(next.Files, old.Files...)
			}
		}
		rel := filepath.Join("views", view, d, fmt.Sprintf("v%04d-%d.parquet", next.Version, len(next.Files)))
		path := filepath.Join(o.cfg.Dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("offline %s: %w", reason, err)
		}
		if err := writeParquet(path, fs, dr, o.cfg.RowGroupSize, o.sealerFor(rel)); err != nil {
			return fmt.Errorf("offline %s %s/%s: %w", reason, view, d, err)
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return err
		}
		next.Files = append(next.Files, PartitionFile{Path: rel, Rows: len(dr), MinTime: minTime(dr), MaxTime: maxTime(dr), SHA256: sum, KeyID: o.cfg.Keyring.SealKeyID()})
		updated[d] = next
	}
	// Publish all days at once: readers see the old manifest or the new, never a mix.
	prev := vm.Partitions
	vm.Partitions = make(map[string]*Partition, len(prev)+len(updated))
	for d, p := range prev {
		vm.Partitions[d] = p
	}
	for d, p := range updated {
		vm.Partitions[d] = p
	}
	o.m.Views[view] = vm
	if err := o.saveManifest(); err != nil {
		vm.Partitions = prev
		return err
	}
	o.logger.Debug("wrote partitions", "view", view, "days", len(days), "rows", len(rows), "reason", reason)
	return nil
}

func minTime(rows []Row) time.Time {
	m := rows[0].Time
	for _, r := range rows {
		if r.Time.Before(m) {
			m = r.Time
		}
	}
	return m
}

func maxTime(rows []Row) time.Time {
	m := rows[0].Time
	for _, r := range rows {
		if r.Time.After(m) {
			m = r.Time
		}
	}
	return m
}

func (o *OfflineStore) schema(v *FeatureView) (*fileSchema, error) {
	if fs, ok := o.schemas[v.Name]; ok {
		return fs, nil
	}
	fs, err := schemaFor(v)
	if err != nil {
		return nil, err
	}
	o.schemas[v.Name] = fs
	return fs, nil
}

func (o *OfflineStore) saveManifest() error {
	b, err := json.MarshalIndent(o.m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	tmp := o.manifestPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := os.Rename(tmp, o.manifestPath()); err != nil {
		return fmt.Errorf("publish manifest: %w", err)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Scan returns the view's rows with from <= time < to, in the current partition versions,
// ordered by entity, time and seq within each day. A zero from or to is unbounded.
func (o *OfflineStore) Scan(ctx context.Context, view string, from, to time.Time) ([]Row, error) {
	v, err := o.reg.View(view)
	if err != nil {
		return nil, fmt.Errorf("offline scan: %w", err)
	}
	o.mu.Lock()
	fs, err := o.schema(v)
	var files []PartitionFile
	if vm := o.m.Views[view]; vm != nil {
		days := make([]string, 0, len(vm.Partitions))
		for d := range vm.Partitions {
			days = append(days, d)
		}
		sort.Strings(days)
		for _, d := range days {
			for _, f := range vm.Partitions[d].Files {
				if (!from.IsZero() && f.MaxTime.Before(from)) || (!to.IsZero() && !f.MinTime.Before(to)) {
					continue
				}
				files = append(files, f)
			}
		}
	}
	o.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var lo, hi int64 = -1 << 63, 0
	if !from.IsZero() {
		lo = from.UnixNano()
	}
	if !to.IsZero() {
		hi = to.UnixNano()
	}
	intern := map[string]string{}
	var out []Row
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if out, err = readParquet(filepath.Join(o.cfg.Dir, f.Path), fs, lo, hi, intern, out, o.opener(f)); err != nil {
			return nil, fmt.Errorf("offline scan %s: %w", view, err)
		}
	}
	return out, nil
}

// Newest is the newest event time stored for a view (zero if none).
func (o *OfflineStore) Newest(view string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	var t time.Time
	if vm := o.m.Views[view]; vm != nil {
		for _, p := range vm.Partitions {
			for _, f := range p.Files {
				if f.MaxTime.After(t) {
					t = f.MaxTime
				}
			}
		}
	}
	return t
}

// Oldest is the oldest event time stored for a view (zero if none).
func (o *OfflineStore) Oldest(view string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	var t time.Time
	if vm := o.m.Views[view]; vm != nil {
		for _, p := range vm.Partitions {
			for _, f := range p.Files {
				if t.IsZero() || f.MinTime.Before(t) {
					t = f.MinTime
				}
			}
		}
	}
	return t
}
