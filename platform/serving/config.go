package serving

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
)

// Config holds the server's dependencies and settings.
type Config struct {
	// Logger receives structured logs; nil discards them. API keys never reach it.
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil skips registering them.
	Registerer prometheus.Registerer
	// Gatherer, when set, is served at /metrics.
	Gatherer prometheus.Gatherer
	// Models are the models served from the start; more can be loaded through the
	// repository API.
	Models []ModelConfig
	// Slots is how many batches run at once across all models (CPU slots); 0 means
	// GOMAXPROCS.
	Slots int
	// DisablePriority grants CPU slots first come, first served whatever the class, and
	// DisableAdmission queues every request however late it will be: together they are
	// the baseline that the multi-tenant benchmark compares with.
	DisablePriority  bool
	DisableAdmission bool
	// MaxBodyBytes bounds an infer request body (413 beyond).
	MaxBodyBytes int64
	// MaxTimeout bounds a deadline a client asks for.
	MaxTimeout time.Duration
	// Keys maps API keys to tenants and scopes; empty turns authentication off.
	Keys []APIKey
	// KeysSource, when set, re-reads the keys (mlp serve: the --keys file) for an admin's
	// POST /v2/casebook/keys/reload, which swaps them in without a restart and audits it.
	KeysSource func(ctx context.Context) ([]APIKey, error)
	// PredictionLog, when set, receives a record of every answered request and shadow
	// comparison, asynchronously, on the prediction log's subjects (platform/predlog;
	// predlog.EnsureStreams makes the streams that hold them).
	PredictionLog PredictionLogger
	// AgreementThreshold is the score at which the shadow and the primary are said to
	// agree on a row's decision (both above or both below it).
	AgreementThreshold float64
	// Features, when set, is the feature registry the served feature services are defined
	// in (a *features.Registry): a model with ModelConfig.FeatureService is admitted only if
	// Features.CheckSchema(service, version's hash) passes.
	Features SchemaChecker
}

// SchemaChecker checks that a feature service still hashes to what a model was trained
// on; features.Registry implements it.
type SchemaChecker interface {
	CheckSchema(service, want string) error
}

// DefaultConfig serves no models yet, with one CPU slot per core, priorities and
// admission on, a 1 MiB body limit and no authentication.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 1 << 20, MaxTimeout: time.Minute, AgreementThreshold: 0.5}
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	if c.MaxBodyBytes < 64 {
		return fmt.Errorf("%w: MaxBodyBytes = %d, want ≥ 64", ErrInvalidConfig, c.MaxBodyBytes)
	}
	if c.MaxTimeout <= 0 {
		return fmt.Errorf("%w: MaxTimeout = %v, want > 0", ErrInvalidConfig, c.MaxTimeout)
	}
	if c.Slots < 0 {
		return fmt.Errorf("%w: Slots = %d", ErrInvalidConfig, c.Slots)
	}
	if !(c.AgreementThreshold > 0 && c.AgreementThreshold < 1) {
		return fmt.Errorf("%w: AgreementThreshold = %v, want in (0, 1)", ErrInvalidConfig, c.AgreementThreshold)
	}
	seen := map[string]bool{}
	for _, m := range c.Models {
		if err := m.Validate(); err != nil {
			return err
		}
		if seen[m.Name] {
			return fmt.Errorf("%w: model %q listed twice", ErrInvalidConfig, m.Name)
		}
		if m.FeatureService != "" && m.FeatureServiceHash == "" && c.Features == nil {
			return fmt.Errorf("%w: model %q: FeatureService %q needs FeatureServiceHash or Config.Features to check it against", ErrInvalidConfig, m.Name, m.FeatureService)
		}
		seen[m.Name] = true
	}
	for i, k := range c.Keys {
		if len(k.Key) < 16 || k.Tenant == "" {
			return fmt.Errorf("%w: key #%d: want a key of ≥ 16 characters and a tenant", ErrInvalidConfig, i)
		}
	}
	return nil
}

// ModelConfig is how one registry model is served.
type ModelConfig struct {
	// Name is the registry model name; it is also the protocol model name.
	Name string
	// Alias is the registry alias whose version answers (blue/green follows its moves).
	Alias string
	// CanaryAlias, with CanaryPercent > 0, sends that share of request keys to the
	// version the alias points to.
	CanaryAlias   string
	CanaryPercent float64
	// ShadowAlias, when set, mirrors every answered request to that version off the
	// caller's path and compares the answers.
	ShadowAlias string
	// Priority is the class, 0 (highest) to NumPriorities-1.
	Priority int
	// SLA is the latency target and the default deadline of a request.
	SLA time.Duration
	// FallbackReserve is the part of the deadline kept back for the fallback chain.
	FallbackReserve time.Duration
	// ShedToFallback answers a request that admission refuses from the fallback chain
	// (after last-good) instead of with 429.
	ShedToFallback bool
	Batch          BatchConfig
	// Fallbacks follow the last known good version in the chain; if empty, a Default of
	// 0 ends it.
	Fallbacks []Fallback
	// Wrap, when set, wraps every version of the model after it is loaded (to add
	// instrumentation, or in benchmarks a simulated per-call cost).
	Wrap func(ml.Model) ml.Model
	// BreakerFailures consecutive failures open the breaker for BreakerCooldown.
	BreakerFailures int
	BreakerCooldown time.Duration
	// FeatureService names the feature service the model's inputs come from, and
	// FeatureServiceHash its schema hash (features.Registry.SchemaHash). When either is
	// set, a version whose recorded hash (registry.Version.ServingSchemaHash) differs is
	// refused, initially and on every alias move: the previous version keeps serving, and
	// the refusal is logged, counted (casebook_serving_model_refused_total) and audited in
	// the registry. With Config.Features set the hash is asked of it (CheckSchema), and
	// FeatureServiceHash is not needed.
	FeatureService     string
	FeatureServiceHash string
}

// DefaultModelConfig serves name@champion at priority 1 with a 50 ms SLA.
func DefaultModelConfig(name string) ModelConfig {
	return ModelConfig{Name: name, Alias: registry.Champion, Priority: 1, SLA: 50 * time.Millisecond,
		FallbackReserve: 5 * time.Millisecond, Batch: DefaultBatchConfig(), BreakerFailures: 5, BreakerCooldown: 500 * time.Millisecond}
}

// Validate reports a setting that cannot work.
func (m ModelConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: model %q: %s", ErrInvalidConfig, m.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case !registry.ValidName(m.Name):
		return bad("not a valid registry model name")
	case !registry.ValidName(m.Alias):
		return bad("alias %q is not a valid name", m.Alias)
	case m.CanaryPercent < 0 || m.CanaryPercent > 100:
		return bad("CanaryPercent = %v, want in [0, 100]", m.CanaryPercent)
	case m.CanaryPercent > 0 && !registry.ValidName(m.CanaryAlias):
		return bad("a canary needs CanaryAlias")
	case m.ShadowAlias != "" && !registry.ValidName(m.ShadowAlias):
		return bad("ShadowAlias %q is not a valid name", m.ShadowAlias)
	case m.Priority < 0 || m.Priority >= NumPriorities:
		return bad("Priority = %d, want 0..%d", m.Priority, NumPriorities-1)
	case m.SLA <= 0:
		return bad("SLA = %v, want > 0", m.SLA)
	case m.FallbackReserve < 0 || m.FallbackReserve >= m.SLA:
		return bad("FallbackReserve = %v, want in [0, SLA)", m.FallbackReserve)
	case m.BreakerFailures < 1 || m.BreakerCooldown <= 0:
		return bad("breaker needs Failures ≥ 1 and Cooldown > 0")
	}
	if err := m.Batch.Validate(); err != nil {
		return fmt.Errorf("model %q: %w", m.Name, err)
	}
	return nil
}
