// Package natskv is the registry's NATS JetStream Store, shared by every server connected
// to the same NATS: version records, aliases and audit entries live in a KV bucket (created
// with Create, so an existing key is never overwritten, except aliases), artifacts in an
// Object Store bucket named by sha256. Alias moves reach watchers through a KV watch.
//
// Keys in the KV bucket:
//
//	v.MODEL.000001        version record (JSON)
//	a.MODEL.ALIAS         {"version": N}
//	audit.00000000000000000001   audit entry (JSON)
package natskv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/casebook-ml/casebook/platform/registry"
)

// Config names the buckets.
type Config struct {
	// KVBucket holds versions, aliases and the audit log.
	KVBucket string
	// ObjectBucket holds artifacts.
	ObjectBucket string
	// Replicas is the buckets' replication factor (1 locally, 3 on a cluster).
	Replicas int
	// Storage is file (default) or memory.
	Storage jetstream.StorageType
	// Logger receives watcher errors; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig uses buckets casebook_registry and casebook_artifacts, one replica, file storage.
func DefaultConfig() Config {
	return Config{KVBucket: "casebook_registry", ObjectBucket: "casebook_artifacts", Replicas: 1, Storage: jetstream.FileStorage}
}

// Validate reports missing bucket names or a bad replica count.
func (c Config) Validate() error {
	if c.KVBucket == "" || c.ObjectBucket == "" {
		return errors.New("natskv registry: bucket names are required")
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("natskv registry: Replicas = %d, want 1..5", c.Replicas)
	}
	return nil
}

// Store is a registry.Store on NATS JetStream.
type Store struct {
	kv  jetstream.KeyValue
	obj jetstream.ObjectStore
	log *slog.Logger
}

var _ registry.Store = (*Store)(nil)

// Open creates (or reuses) the buckets on js.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: cfg.KVBucket, Description: "Casebook model registry",
		History: 16, Replicas: cfg.Replicas, Storage: cfg.Storage})
	if err != nil {
		return nil, fmt.Errorf("natskv registry: kv bucket %s: %w", cfg.KVBucket, err)
	}
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: cfg.ObjectBucket, Description: "Casebook model artifacts",
		Replicas: cfg.Replicas, Storage: cfg.Storage})
	if err != nil {
		return nil, fmt.Errorf("natskv registry: object bucket %s: %w", cfg.ObjectBucket, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{kv: kv, obj: obj, log: log.With("component", "registry-natskv")}, nil
}

func versionKey(model string, n int) string { return fmt.Sprintf("v.%s.%06d", model, n) }
func aliasKey(model, alias string) string   { return "a." + model + "." + alias }
func auditKey(seq uint64) string            { return fmt.Sprintf("audit.%020d", seq) }

// PutArtifact implements registry.Store.
func (s *Store) PutArtifact(ctx context.Context, sum string, data []byte) error {
	if _, err := s.obj.GetInfo(ctx, sum); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("natskv registry: artifact info: %w", err)
	}
	if _, err := s.obj.PutBytes(ctx, sum, data); err != nil {
		return fmt.Errorf("natskv registry: put artifact: %w", err)
	}
	return nil
}

// GetArtifact implements registry.Store.
func (s *Store) GetArtifact(ctx context.Context, sum string) ([]byte, error) {
	b, err := s.obj.GetBytes(ctx, sum)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, registry.ErrArtifactNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("natskv registry: get artifact: %w", err)
	}
	return b, nil
}

// ReplaceArtifact overwrites the bytes stored under sum, bypassing content addressing, so
// tests can show that a corrupt artifact is refused on load.
func (s *Store) ReplaceArtifact(ctx context.Context, sum string, data []byte) error {
	_, err := s.obj.PutBytes(ctx, sum, data)
	return err
}

// DeleteArtifact removes an artifact (for tests of a missing artifact).
func (s *Store) DeleteArtifact(ctx context.Context, sum string) error { return s.obj.Delete(ctx, sum) }

// CreateVersion implements registry.Store.
func (s *Store) CreateVersion(ctx context.Context, v registry.Version) error {
	if !registry.ValidName(v.Model) || v.Number <= 0 {
		return fmt.Errorf("natskv registry: %w: model %q version %d", registry.ErrInvalid, v.Model, v.Number)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("natskv registry: encode version: %w", err)
	}
	if _, err := s.kv.Create(ctx, versionKey(v.Model, v.Number), data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return registry.ErrVersionExists
		}
		return fmt.Errorf("natskv registry: create %s v%d: %w", v.Model, v.Number, err)
	}
	return nil
}

// GetVersion implements registry.Store.
func (s *Store) GetVersion(ctx context.Context, model string, n int) (registry.Version, error) {
	if !registry.ValidName(model) {
		return registry.Version{}, registry.ErrVersionNotFound
	}
	e, err := s.kv.Get(ctx, versionKey(model, n))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return registry.Version{}, registry.ErrVersionNotFound
	}
	if err != nil {
		return registry.Version{}, fmt.Errorf("natskv registry: %w", err)
	}
	var v registry.Version
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return registry.Version{}, fmt.Errorf("natskv registry: decode %s v%d: %w", model, n, err)
	}
	return v, nil
}

func (s *Store) keys(ctx context.Context, filter string) ([]string, error) {
	l, err := s.kv.ListKeysFiltered(ctx, filter)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natskv registry: list %s: %w", filter, err)
	}
	defer l.Stop()
	var out []string
	for k := range l.Keys() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// ListVersions implements registry.Store.
func (s *Store) ListVersions(ctx context.Context, model string) ([]registry.Version, error) {
	if !registry.ValidName(model) {
		return nil, nil
	}
	keys, err := s.keys(ctx, "v."+model+".*")
	if err != nil {
		return nil, err
	}
	out := make([]registry.Version, 0, len(keys))
	for _, k := range keys {
		n, err := strconv.Atoi(k[strings.LastIndexByte(k, '.')+1:])
		if err != nil {
			continue
		}
		v, err := s.GetVersion(ctx, model, n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ListModels implements registry.Store.
func (s *Store) ListModels(ctx context.Context) ([]string, error) {
	keys, err := s.keys(ctx, "v.*.*")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		m := strings.Split(k, ".")[1]
		if len(out) == 0 || out[len(out)-1] != m {
			out = append(out, m)
		}
	}
	return out, nil
}

type aliasRecord struct {
	Version int `json:"version"`
}

// SetAlias implements registry.Store.
func (s *Store) SetAlias(ctx context.Context, model, alias string, version int) error {
	if !registry.ValidName(model) || !registry.ValidName(alias) {
		return fmt.Errorf("natskv registry: %w: alias %q of model %q", registry.ErrInvalid, alias, model)
	}
	if version == 0 {
		if err := s.kv.Delete(ctx, aliasKey(model, alias)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("natskv registry: remove alias: %w", err)
		}
		return nil
	}
	data, _ := json.Marshal(aliasRecord{Version: version})
	if _, err := s.kv.Put(ctx, aliasKey(model, alias), data); err != nil {
		return fmt.Errorf("natskv registry: set alias: %w", err)
	}
	return nil
}

// Aliases implements registry.Store.
func (s *Store) Aliases(ctx context.Context, model string) (map[string]int, error) {
	out := map[string]int{}
	if !registry.ValidName(model) {
		return out, nil
	}
	keys, err := s.keys(ctx, "a."+model+".*")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("natskv registry: %w", err)
		}
		var rec aliasRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return nil, fmt.Errorf("natskv registry: alias %s: %w", k, err)
		}
		out[k[strings.LastIndexByte(k, '.')+1:]] = rec.Version
	}
	return out, nil
}

// AppendAudit implements registry.Store.
func (s *Store) AppendAudit(ctx context.Context, e registry.AuditEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("natskv registry: encode audit: %w", err)
	}
	if _, err := s.kv.Create(ctx, auditKey(e.Seq), data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return registry.ErrAuditConflict
		}
		return fmt.Errorf("natskv registry: append audit: %w", err)
	}
	return nil
}

// OverwriteAudit replaces an audit entry in place, bypassing the append-only rule, so
// tests can show that tampering is detected.
func (s *Store) OverwriteAudit(ctx context.Context, e registry.AuditEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, auditKey(e.Seq), data)
	return err
}

// Audit implements registry.Store.
func (s *Store) Audit(ctx context.Context) ([]registry.AuditEntry, error) {
	keys, err := s.keys(ctx, "audit.*")
	if err != nil {
		return nil, err
	}
	out := make([]registry.AuditEntry, 0, len(keys))
	for _, k := range keys {
		e, err := s.kv.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("natskv registry: %s: %w", k, err)
		}
		var a registry.AuditEntry
		if err := json.Unmarshal(e.Value(), &a); err != nil {
			return nil, fmt.Errorf("natskv registry: %s: %w", k, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// WatchAliases implements registry.Store with a KV watch on the alias keys.
func (s *Store) WatchAliases(ctx context.Context) (<-chan registry.AliasEvent, error) {
	w, err := s.kv.Watch(ctx, "a.>")
	if err != nil {
		return nil, fmt.Errorf("natskv registry: watch: %w", err)
	}
	ch := make(chan registry.AliasEvent, 64)
	go func() {
		defer close(ch)
		defer func() { _ = w.Stop() }()
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-ctx.Done():
				return
			case e, ok = <-w.Updates():
				if !ok {
					return
				}
			}
			if e == nil { // end of the initial values
				continue
			}
			parts := strings.SplitN(e.Key(), ".", 3)
			if len(parts) != 3 {
				continue
			}
			ev := registry.AliasEvent{Model: parts[1], Alias: parts[2]}
			if e.Operation() == jetstream.KeyValuePut {
				var rec aliasRecord
				if err := json.Unmarshal(e.Value(), &rec); err != nil {
					s.log.Warn("bad alias record", "key", e.Key(), "err", err)
					continue
				}
				ev.Version = rec.Version
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
