package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/seal"
)

// Config holds the Registry's dependencies.
type Config struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the registry's metrics; nil skips registering them.
	Registerer prometheus.Registerer
	// Now is the clock (for tests); nil means time.Now.
	Now func() time.Time
	// MaxCreateRetries bounds retries when another writer takes the same version or audit
	// sequence number first.
	MaxCreateRetries int
	// Keyring, when it holds a key, seals every new artifact (AES-256-GCM) before it reaches
	// the store and opens sealed ones on load; nil keeps artifacts in the clear. See sealed.go.
	Keyring *seal.Keyring
}

// DefaultConfig discards logs, skips metrics and uses the wall clock.
func DefaultConfig() Config { return Config{MaxCreateRetries: 20} }

// Validate reports a non-positive retry bound.
func (c Config) Validate() error {
	if c.MaxCreateRetries <= 0 {
		return fmt.Errorf("%w: MaxCreateRetries = %d, want > 0", ErrInvalid, c.MaxCreateRetries)
	}
	return nil
}

// Registry is the model registry over a Store.
type Registry struct {
	store   Store
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	hub     *aliasHub // one store watch shared by every Watch
}

type metrics struct {
	registered *prometheus.CounterVec
	promotions *prometheus.CounterVec
	loads      *prometheus.CounterVec
}

// New returns a Registry over store.
func New(store Store, cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Registry{store: store, cfg: cfg, log: cfg.Logger, now: cfg.Now, hub: newAliasHub(store)}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "registry")
	if r.now == nil {
		r.now = time.Now
	}
	r.metrics = &metrics{
		registered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_registry_registrations_total", Help: "Register calls by outcome (created, existing, error)."}, []string{"outcome"}),
		promotions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_registry_alias_moves_total", Help: "Alias move attempts by outcome (moved, forced, refused, rollback)."}, []string{"outcome"}),
		loads:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_registry_loads_total", Help: "Artifact loads by outcome (ok, corrupt, missing, key_missing)."}, []string{"outcome"}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{r.metrics.registered, r.metrics.promotions, r.metrics.loads} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registry metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Store returns the underlying store.
func (r *Registry) Store() Store { return r.store }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidName reports whether s may name a model or an alias: lower-case letters, digits,
// '_' and '-', starting with a letter or digit, at most 64 characters (safe as a file name
// and as a NATS KV key token).
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Sum is the sha256 (hex) of data.
func Sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// RegisterRequest is what a trainer hands the registry. Number, Artifact, Size,
// SchemaHash and RegisteredAt are filled in by Register.
type RegisterRequest struct {
	Version
	// Data is the artifact's bytes.
	Data []byte
	// Floors, when set, are checked before anything is stored: a version that misses one
	// is not registered at all (a *FloorError wrapping ErrGateFailed). An ANN index below
	// its recall bar is refused this way, so no alias can ever point at it.
	Floors []Floor
}

// Register stores the artifact by its sha256 and creates the next version of the model.
// If a version with the same artifact hash and training-data fingerprint exists, it is
// returned with created = false and nothing is written: rerunning a deterministic
// pipeline registers nothing new. For ml families the artifact is decoded first, and its
// schema must equal the request's. A failed registration leaves no version behind (an
// orphaned artifact may remain; it is content-addressed and harmless).
func (r *Registry) Register(ctx context.Context, req RegisterRequest) (v Version, created bool, err error) {
	defer func() {
		switch {
		case err != nil:
			r.metrics.registered.WithLabelValues("error").Inc()
		case created:
			r.metrics.registered.WithLabelValues("created").Inc()
		default:
			r.metrics.registered.WithLabelValues("existing").Inc()
		}
	}()
	v = req.Version
	if err := r.checkRequest(&v, req.Data); err != nil {
		return Version{}, false, err
	}
	if err := checkFloors(v, req.Floors); err != nil {
		return Version{}, false, err
	}
	existing, err := r.store.ListVersions(ctx, v.Model)
	if err != nil {
		return Version{}, false, fmt.Errorf("register %s: %w", v.Model, err)
	}
	for _, e := range existing {
		if e.Artifact == v.Artifact && e.DataFingerprint == v.DataFingerprint {
			return e, false, nil
		}
	}
	if v.Parent != 0 && !slices.ContainsFunc(existing, func(e Version) bool { return e.Number == v.Parent }) {
		return Version{}, false, fmt.Errorf("register %q: %w: parent v%d does not exist", v.Model, ErrInvalid, v.Parent)
	}
	stored, keyID, err := r.sealArtifact(ctx, v.Artifact, req.Data)
	if err != nil {
		return Version{}, false, fmt.Errorf("register %s: %w", v.Model, err)
	}
	v.ArtifactKeyID = keyID
	if err := r.store.PutArtifact(ctx, v.Artifact, stored); err != nil {
		return Version{}, false, fmt.Errorf("register %s: store artifact: %w", v.Model, err)
	}
	next := 1
	if len(existing) > 0 {
		next = existing[len(existing)-1].Number + 1
	}
	v.RegisteredAt = r.now().UTC()
	for try := 0; try < r.cfg.MaxCreateRetries; try++ {
		v.Number = next
		err = r.store.CreateVersion(ctx, v)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrVersionExists) {
			return Version{}, false, fmt.Errorf("register %s v%d: %w", v.Model, next, err)
		}
		next++
	}
	if err != nil {
		return Version{}, false, fmt.Errorf("register %s: %w after %d tries", v.Model, err, r.cfg.MaxCreateRetries)
	}
	if _, err := r.appendAudit(ctx, AuditEntry{Actor: v.RegisteredBy, Action: ActionRegister, Model: v.Model, To: v.Number,
		Reason: "artifact sha256:" + v.Artifact}); err != nil {
		return v, true, fmt.Errorf("register %s v%d: audit: %w", v.Model, v.Number, err)
	}
	r.log.Info("registered", "model", v.Model, "version", v.Number, "artifact", short(v.Artifact))
	return v, true, nil
}

func (r *Registry) checkRequest(v *Version, data []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("register %q: %w: %s", v.Model, ErrInvalid, fmt.Sprintf(format, args...))
	}
	if !ValidName(v.Model) {
		return bad("model name must match %s", nameRE)
	}
	if len(data) == 0 {
		return bad("empty artifact")
	}
	if v.RegisteredBy == "" {
		return bad("RegisteredBy is required")
	}
	if v.Family == "" {
		return bad("Family is required")
	}
	if err := v.Schema.Validate(); err != nil {
		return bad("%v", err)
	}
	switch ml.Family(v.Family) {
	case ml.FamilyLogReg, ml.FamilyGBDT, ml.FamilyForest, ml.FamilyFM, ml.FamilyFMInt8, ml.FamilyMF:
		m, err := ml.Unmarshal(data)
		if err != nil {
			return bad("artifact: %v", err)
		}
		if string(m.Family()) != v.Family {
			return bad("artifact is a %s model, request says %s", m.Family(), v.Family)
		}
		if !m.Schema().Equal(v.Schema) {
			return bad("artifact's feature schema differs from the request's: %s", v.Schema.Diff(m.Schema()))
		}
	}
	for set, ms := range v.Metrics {
		for name, val := range ms {
			if math.IsNaN(val) || math.IsInf(val, 0) {
				return bad("metric %s/%s is %v", set, name, val)
			}
		}
	}
	for _, sl := range v.Slices {
		for name, val := range sl.Metrics {
			if math.IsNaN(val) || math.IsInf(val, 0) {
				return bad("slice %s/%s metric %s is %v", sl.Slice, sl.Segment, name, val)
			}
		}
		if sl.Rows < 0 || sl.Positives < 0 || sl.Positives > sl.Rows {
			return bad("slice %s/%s counts %d rows, %d positives", sl.Slice, sl.Segment, sl.Rows, sl.Positives)
		}
	}
	if v.Importance != nil {
		for _, f := range v.Importance.Features {
			if !(f.MeanAbs >= 0) || math.IsInf(f.MeanAbs, 0) {
				return bad("importance of %s is %v", f.Feature, f.MeanAbs)
			}
		}
	}
	if v.DataRange.To.Before(v.DataRange.From) {
		return bad("training data range ends before it starts")
	}
	v.Artifact = Sum(data)
	v.Size = int64(len(data))
	v.SchemaHash = v.Schema.Hash()
	v.DataRange.From, v.DataRange.To = v.DataRange.From.UTC(), v.DataRange.To.UTC()
	return nil
}

// Models lists registered model names.
func (r *Registry) Models(ctx context.Context) ([]string, error) { return r.store.ListModels(ctx) }

// Versions lists a model's versions; ErrModelNotFound if it has none.
func (r *Registry) Versions(ctx context.Context, model string) ([]Version, error) {
	vs, err := r.store.ListVersions(ctx, model)
	if err != nil {
		return nil, fmt.Errorf("versions of %q: %w", model, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("versions of %q: %w", model, ErrModelNotFound)
	}
	return vs, nil
}

// Aliases returns a model's aliases.
func (r *Registry) Aliases(ctx context.Context, model string) (map[string]int, error) {
	return r.store.Aliases(ctx, model)
}

// Resolve finds a version by reference: a number ("3", "v3") or an alias ("champion",
// "@champion").
func (r *Registry) Resolve(ctx context.Context, model, ref string) (Version, error) {
	ref = strings.TrimPrefix(ref, "@")
	if n, err := strconv.Atoi(strings.TrimPrefix(ref, "v")); err == nil {
		v, err := r.store.GetVersion(ctx, model, n)
		if err != nil {
			if errors.Is(err, ErrVersionNotFound) {
				if vs, lerr := r.store.ListVersions(ctx, model); lerr == nil && len(vs) == 0 {
					return Version{}, fmt.Errorf("resolve %s@%s: %w", model, ref, ErrModelNotFound)
				}
			}
			return Version{}, fmt.Errorf("resolve %s@%s: %w", model, ref, err)
		}
		return v, nil
	}
	aliases, err := r.store.Aliases(ctx, model)
	if err != nil {
		return Version{}, fmt.Errorf("resolve %s@%s: %w", model, ref, err)
	}
	n, ok := aliases[ref]
	if !ok {
		if vs, lerr := r.store.ListVersions(ctx, model); lerr == nil && len(vs) == 0 {
			return Version{}, fmt.Errorf("resolve %s@%s: %w", model, ref, ErrModelNotFound)
		}
		return Version{}, fmt.Errorf("resolve %s@%s: %w", model, ref, ErrAliasNotFound)
	}
	v, err := r.store.GetVersion(ctx, model, n)
	if errors.Is(err, ErrVersionNotFound) {
		return Version{}, fmt.Errorf("resolve %s@%s → v%d: %w", model, ref, n, ErrDanglingAlias)
	}
	if err != nil {
		return Version{}, fmt.Errorf("resolve %s@%s: %w", model, ref, err)
	}
	return v, nil
}

// Artifact returns a version's artifact bytes after opening them (when sealed) and
// verifying their sha256. A missing, corrupt or unopenable artifact is an *ArtifactError;
// callers that serve keep the model they had.
func (r *Registry) Artifact(ctx context.Context, v Version) ([]byte, error) {
	data, err := r.store.GetArtifact(ctx, v.Artifact)
	if err != nil {
		r.metrics.loads.WithLabelValues("missing").Inc()
		return nil, &ArtifactError{Model: v.Model, Version: v.Number, Want: v.Artifact, Err: err}
	}
	if data, err = r.openArtifact(v, data); err != nil {
		return nil, err
	}
	if got := Sum(data); got != v.Artifact {
		r.metrics.loads.WithLabelValues("corrupt").Inc()
		r.log.Error("artifact corrupt", "model", v.Model, "version", v.Number, "want", short(v.Artifact), "got", short(got))
		return nil, &ArtifactError{Model: v.Model, Version: v.Number, Want: v.Artifact, Got: got, Err: ErrArtifactCorrupt}
	}
	r.metrics.loads.WithLabelValues("ok").Inc()
	return data, nil
}

// Load resolves ref, verifies the artifact and decodes it as an ml.Model.
func (r *Registry) Load(ctx context.Context, model, ref string) (ml.Model, Version, error) {
	v, err := r.Resolve(ctx, model, ref)
	if err != nil {
		return nil, Version{}, err
	}
	data, err := r.Artifact(ctx, v)
	if err != nil {
		return nil, Version{}, err
	}
	m, err := ml.Unmarshal(data)
	if err != nil {
		return nil, Version{}, fmt.Errorf("load %s v%d: %w", model, v.Number, err)
	}
	return m, v, nil
}

// Watch sends every alias's current position and then every move until ctx ends; the
// serving layer uses it to switch models blue/green. Every Watch of a Registry shares one
// store watch (a server following 100 aliases polls the store once, not 100 times).
func (r *Registry) Watch(ctx context.Context) (<-chan AliasEvent, error) {
	return r.hub.subscribe(ctx)
}

func checkFloors(v Version, floors []Floor) error {
	var results []GateResult
	failed := false
	for _, f := range floors {
		if err := f.validate(); err != nil {
			return fmt.Errorf("register %q: %w", v.Model, err)
		}
		res := f.Check(v)
		failed = failed || !res.Passed
		results = append(results, res)
	}
	if failed {
		return &FloorError{Model: v.Model, Results: results}
	}
	return nil
}
