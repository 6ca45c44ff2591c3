// Package fs is the registry's filesystem Store, the local default. Versions and audit
// entries are written once (to a temporary file, then hard-linked into place, which fails
// if the name exists), artifacts live under their sha256, and aliases are small files
// replaced by rename. A watcher polls the alias files.
//
// Layout under the root directory:
//
//	artifacts/sha256/ab/abcdef…            artifact bytes
//	models/NAME/versions/000001.json       version records
//	models/NAME/aliases/ALIAS.json         {"version": N}
//	audit/00000000000000000001.json        audit entries
package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/registry"
)

// Config configures the filesystem store.
type Config struct {
	// Dir is the registry's root directory, created if missing.
	Dir string
	// PollInterval is how often WatchAliases looks for alias changes.
	PollInterval time.Duration
	// Logger receives watcher errors; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig uses ./.casebook/registry and polls every 200 ms.
func DefaultConfig() Config {
	return Config{Dir: filepath.Join(".casebook", "registry"), PollInterval: 200 * time.Millisecond}
}

// Validate reports an empty directory or a non-positive poll interval.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("fs registry: Dir is empty")
	}
	if c.PollInterval <= 0 {
		return fmt.Errorf("fs registry: PollInterval = %v, want > 0", c.PollInterval)
	}
	return nil
}

// Store is a registry.Store on a local directory.
type Store struct {
	dir  string
	poll time.Duration
	log  *slog.Logger
}

var _ registry.Store = (*Store)(nil)

// Open creates the directory layout if needed and returns the store.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, d := range []string{"artifacts/sha256", "models", "audit", "tmp"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("fs registry: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{dir: cfg.Dir, poll: cfg.PollInterval, log: log.With("component", "registry-fs")}, nil
}

// Dir is the root directory.
func (s *Store) Dir() string { return s.dir }

// ArtifactPath is where an artifact's bytes live (for tests and operators).
func (s *Store) ArtifactPath(sum string) string {
	return filepath.Join(s.dir, "artifacts", "sha256", sum[:2], sum)
}

// AuditPath is where audit entry seq lives.
func (s *Store) AuditPath(seq uint64) string {
	return filepath.Join(s.dir, "audit", fmt.Sprintf("%020d.json", seq))
}

func (s *Store) versionPath(model string, n int) string {
	return filepath.Join(s.dir, "models", model, "versions", fmt.Sprintf("%06d.json", n))
}

func (s *Store) aliasDir(model string) string {
	return filepath.Join(s.dir, "models", model, "aliases")
}

// writeTemp writes data to a synced temporary file in the store and returns its path.
func (s *Store) writeTemp(data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "w-*")
	if err != nil {
		return "", err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// createOnce places data at path atomically, failing with os.ErrExist if path exists: the
// file is either absent or complete, never half-written.
func (s *Store) createOnce(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := s.writeTemp(data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Link(tmp, path)
}

// PutArtifact implements registry.Store.
func (s *Store) PutArtifact(_ context.Context, sum string, data []byte) error {
	if len(sum) != 64 {
		return fmt.Errorf("fs registry: bad sha256 %q", sum)
	}
	err := s.createOnce(s.ArtifactPath(sum), data)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fs registry: put artifact %s: %w", sum[:12], err)
	}
	return nil
}

// GetArtifact implements registry.Store.
func (s *Store) GetArtifact(_ context.Context, sum string) ([]byte, error) {
	if len(sum) != 64 {
		return nil, fmt.Errorf("fs registry: %w: bad sha256 %q", registry.ErrArtifactNotFound, sum)
	}
	b, err := os.ReadFile(s.ArtifactPath(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil, registry.ErrArtifactNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("fs registry: get artifact: %w", err)
	}
	return b, nil
}

// CreateVersion implements registry.Store.
func (s *Store) CreateVersion(_ context.Context, v registry.Version) error {
	if !registry.ValidName(v.Model) || v.Number <= 0 {
		return fmt.Errorf("fs registry: %w: model %q version %d", registry.ErrInvalid, v.Model, v.Number)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("fs registry: encode version: %w", err)
	}
	err = s.createOnce(s.versionPath(v.Model, v.Number), data)
	if errors.Is(err, os.ErrExist) {
		return registry.ErrVersionExists
	}
	if err != nil {
		return fmt.Errorf("fs registry: create %s v%d: %w", v.Model, v.Number, err)
	}
	return nil
}

// GetVersion implements registry.Store.
func (s *Store) GetVersion(_ context.Context, model string, n int) (registry.Version, error) {
	if !registry.ValidName(model) {
		return registry.Version{}, registry.ErrVersionNotFound
	}
	b, err := os.ReadFile(s.versionPath(model, n))
	if errors.Is(err, os.ErrNotExist) {
		return registry.Version{}, registry.ErrVersionNotFound
	}
	if err != nil {
		return registry.Version{}, fmt.Errorf("fs registry: %w", err)
	}
	var v registry.Version
	if err := json.Unmarshal(b, &v); err != nil {
		return registry.Version{}, fmt.Errorf("fs registry: decode %s v%d: %w", model, n, err)
	}
	return v, nil
}

// ListVersions implements registry.Store.
func (s *Store) ListVersions(ctx context.Context, model string) ([]registry.Version, error) {
	if !registry.ValidName(model) {
		return nil, nil
	}
	ents, err := os.ReadDir(filepath.Join(s.dir, "models", model, "versions"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fs registry: %w", err)
	}
	var nums []int
	for _, e := range ents {
		if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".json")); err == nil {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	out := make([]registry.Version, 0, len(nums))
	for _, n := range nums {
		v, err := s.GetVersion(ctx, model, n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ListModels implements registry.Store.
func (s *Store) ListModels(_ context.Context) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "models"))
	if err != nil {
		return nil, fmt.Errorf("fs registry: %w", err)
	}
	var out []string
	for _, e := range ents {
		vs, _ := os.ReadDir(filepath.Join(s.dir, "models", e.Name(), "versions"))
		if e.IsDir() && len(vs) > 0 {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

type aliasRecord struct {
	Version int `json:"version"`
}

// SetAlias implements registry.Store.
func (s *Store) SetAlias(_ context.Context, model, alias string, version int) error {
	if !registry.ValidName(model) || !registry.ValidName(alias) {
		return fmt.Errorf("fs registry: %w: alias %q of model %q", registry.ErrInvalid, alias, model)
	}
	path := filepath.Join(s.aliasDir(model), alias+".json")
	if version == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("fs registry: remove alias: %w", err)
		}
		return nil
	}
	data, _ := json.Marshal(aliasRecord{Version: version})
	if err := os.MkdirAll(s.aliasDir(model), 0o755); err != nil {
		return fmt.Errorf("fs registry: %w", err)
	}
	tmp, err := s.writeTemp(data)
	if err != nil {
		return fmt.Errorf("fs registry: set alias: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("fs registry: set alias: %w", err)
	}
	return nil
}

// Aliases implements registry.Store.
func (s *Store) Aliases(_ context.Context, model string) (map[string]int, error) {
	out := map[string]int{}
	if !registry.ValidName(model) {
		return out, nil
	}
	ents, err := os.ReadDir(s.aliasDir(model))
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fs registry: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.aliasDir(model), e.Name()))
		if errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fs registry: %w", err)
		}
		var rec aliasRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("fs registry: alias %s/%s: %w", model, name, err)
		}
		out[name] = rec.Version
	}
	return out, nil
}

// AppendAudit implements registry.Store.
func (s *Store) AppendAudit(_ context.Context, e registry.AuditEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("fs registry: encode audit: %w", err)
	}
	err = s.createOnce(s.AuditPath(e.Seq), data)
	if errors.Is(err, os.ErrExist) {
		return registry.ErrAuditConflict
	}
	if err != nil {
		return fmt.Errorf("fs registry: append audit: %w", err)
	}
	return nil
}

// Audit implements registry.Store.
func (s *Store) Audit(_ context.Context) ([]registry.AuditEntry, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "audit"))
	if err != nil {
		return nil, fmt.Errorf("fs registry: %w", err)
	}
	out := make([]registry.AuditEntry, 0, len(ents))
	for _, e := range ents { // ReadDir sorts by name; names are zero-padded sequence numbers
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, "audit", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("fs registry: %w", err)
		}
		var a registry.AuditEntry
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("fs registry: audit %s: %w", e.Name(), err)
		}
		out = append(out, a)
	}
	return out, nil
}

// OverwriteAudit replaces an audit entry in place, bypassing the append-only rule. It
// exists so tests can show that tampering is detected.
func (s *Store) OverwriteAudit(e registry.AuditEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return os.WriteFile(s.AuditPath(e.Seq), data, 0o644)
}

func (s *Store) snapshot(ctx context.Context) (map[[2]string]int, error) {
	models, err := os.ReadDir(filepath.Join(s.dir, "models"))
	if err != nil {
		return nil, err
	}
	out := map[[2]string]int{}
	for _, m := range models {
		as, err := s.Aliases(ctx, m.Name())
		if err != nil {
			return nil, err
		}
		for a, v := range as {
			out[[2]string{m.Name(), a}] = v
		}
	}
	return out, nil
}

// WatchAliases implements registry.Store by polling the alias files.
func (s *Store) WatchAliases(ctx context.Context) (<-chan registry.AliasEvent, error) {
	prev, err := s.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("fs registry: watch: %w", err)
	}
	ch := make(chan registry.AliasEvent, 64)
	send := func(k [2]string, v int) bool {
		select {
		case ch <- registry.AliasEvent{Model: k[0], Alias: k[1], Version: v}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(ch)
		keys := func(m map[[2]string]int) [][2]string {
			ks := make([][2]string, 0, len(m))
			for k := range m {
				ks = append(ks, k)
			}
			slices.SortFunc(ks, func(a, b [2]string) int { return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1]) })
			return ks
		}
		for _, k := range keys(prev) {
			if !send(k, prev[k]) {
				return
			}
		}
		t := time.NewTicker(s.poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur, err := s.snapshot(ctx)
			if err != nil {
				s.log.Warn("alias poll failed", "err", err)
				continue
			}
			for _, k := range keys(cur) {
				if prev[k] != cur[k] && !send(k, cur[k]) {
					return
				}
			}
			for _, k := range keys(prev) {
				if _, ok := cur[k]; !ok && !send(k, 0) {
					return
				}
			}
			prev = cur
		}
	}()
	return ch, nil
}
