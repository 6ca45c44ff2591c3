package registry

import (
	"context"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

// Store is the persistence seam. Implementations keep versions and audit entries
// immutable (create-if-absent) and artifacts content-addressed; only aliases are
// overwritten. Implementations: registry/fs and registry/natskv, both checked by
// registrytest.Run.
type Store interface {
	// PutArtifact stores data under its sha256 (hex). Storing the same bytes again is a no-op.
	PutArtifact(ctx context.Context, sum string, data []byte) error
	// GetArtifact returns the stored bytes, unverified; ErrArtifactNotFound if absent.
	GetArtifact(ctx context.Context, sum string) ([]byte, error)
	// CreateVersion writes a version record atomically; ErrVersionExists if the model
	// already has that number. A failed call leaves nothing behind.
	CreateVersion(ctx context.Context, v Version) error
	// GetVersion returns one version; ErrVersionNotFound if absent.
	GetVersion(ctx context.Context, model string, number int) (Version, error)
	// ListVersions returns a model's versions in ascending order (empty if none).
	ListVersions(ctx context.Context, model string) ([]Version, error)
	// ListModels returns the names of models with at least one version, sorted.
	ListModels(ctx context.Context) ([]string, error)
	// SetAlias points model's alias at version; version 0 removes the alias.
	SetAlias(ctx context.Context, model, alias string, version int) error
	// Aliases returns a model's aliases.
	Aliases(ctx context.Context, model string) (map[string]int, error)
	// AppendAudit writes entry e.Seq; ErrAuditConflict if that number is taken.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// Audit returns every audit entry in sequence order.
	Audit(ctx context.Context) ([]AuditEntry, error)
	// WatchAliases sends every alias's current position, then every move, until ctx ends.
	// It reports positions, not every write: a store that polls may coalesce
	// moves made between two polls (an alias set and removed in between is not
	// seen at all), so a watcher always converges on the latest position.
	WatchAliases(ctx context.Context) (<-chan AliasEvent, error)
}

// AliasEvent is an alias position: Version 0 means the alias was removed.
type AliasEvent struct {
	Model   string `json:"model"`
	Alias   string `json:"alias"`
	Version int    `json:"version"`
}

// ServingSchemaHash is the hash the schema gate compares with what serving provides.
func (v Version) ServingSchemaHash() string {
	if v.FeatureServiceHash != "" {
		return v.FeatureServiceHash
	}
	return v.SchemaHash
}

// DataRange is the event-time range of the rows a model was trained on.
type DataRange struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Version is one immutable registered model version: everything needed to reproduce,
// judge and load it.
type Version struct {
	Model  string `json:"model"`
	Number int    `json:"version"`
	// Artifact is the sha256 (hex) of the artifact bytes; Size their length.
	Artifact string `json:"artifact_sha256"`
	Size     int64  `json:"artifact_bytes"`
	// ArtifactKeyID is the id of the data key the stored artifact is sealed with
	// (AES-256-GCM, see package seal); "" when it is stored in the clear. Artifact and Size
	// stay those of the plaintext.
	ArtifactKeyID string `json:"artifact_key_id,omitempty"`
	// Family is the ml.Family, or another kind of artifact ("ann-index", "lookup-table").
	Family     string    `json:"family"`
	Schema     ml.Schema `json:"feature_schema"`
	SchemaHash string    `json:"feature_schema_sha256"`
	// FeatureService and FeatureServiceHash name the feature store service the training
	// set was built from and its schema hash (features.Registry.SchemaHash), when it came
	// from the feature store. The schema gate compares the serving hash with
	// FeatureServiceHash when it is set, and with SchemaHash otherwise.
	FeatureService     string `json:"feature_service,omitempty"`
	FeatureServiceHash string `json:"feature_service_hash,omitempty"`
	// Metrics holds metrics per evaluation set: Metrics["holdout"]["auc"].
	//
	// Undefined metrics: a metric that has no value on a set (an AUC with one class, a
	// precision with nothing flagged) is left out of the map, never stored as NaN or ±Inf;
	// Register refuses a non-finite value, naming the set and metric. A gate on a metric
	// the candidate lacks fails ("candidate has no …"); one the current holder lacks
	// passes with that said in its detail, since there is nothing to beat.
	Metrics map[string]ml.Metrics `json:"metrics"`
	// PredictP99 is the measured single-row predict latency at the 99th percentile.
	PredictP99      time.Duration     `json:"predict_p99_ns"`
	DataRange       DataRange         `json:"training_data_range"`
	DataFingerprint string            `json:"training_data_fingerprint"`
	CodeVersion     string            `json:"code_version"`
	Params          map[string]string `json:"params,omitempty"`
	// Parent is the version this one was trained to replace (0: none).
	Parent       int       `json:"parent,omitempty"`
	RegisteredBy string    `json:"registered_by"`
	RegisteredAt time.Time `json:"registered_at"`
	Description  string    `json:"description,omitempty"`
	IntendedUse  string    `json:"intended_use,omitempty"`
	KnownLimits  []string  `json:"known_limits,omitempty"`
	// Privacy records what protected the training data of this version and what was
	// measured about the model's leakage; nil when nothing was recorded.
	Privacy *Privacy `json:"privacy,omitempty"`
	// Importance is each feature's global importance: the mean |contribution| of its
	// per-prediction explanations over a sample of the holdout; nil when not computed.
	Importance *Importance `json:"importance,omitempty"`
	// Slices are the holdout metrics per segment of the data (fairness slices), in the
	// order the training definition declared them.
	Slices []SliceMetrics `json:"slices,omitempty"`
}

// Importance is a version's global feature importance.
type Importance struct {
	Method   string              `json:"method"` // the explanation method (ml.MethodTreeSHAP, ...)
	Set      string              `json:"set"`    // the evaluation set sampled ("holdout")
	Rows     int                 `json:"rows"`   // rows explained
	Features []FeatureImportance `json:"features"`
}

// FeatureImportance is one feature's mean absolute contribution to the logit.
type FeatureImportance struct {
	Feature string  `json:"feature"`
	MeanAbs float64 `json:"mean_abs"`
}

// SliceMetrics is the evaluation of one segment of an evaluation set: Slice names the
// slicing (a feature cut into bands, say "amount"), Segment the band ("amount ≥ 500").
type SliceMetrics struct {
	Slice     string     `json:"slice"`
	Segment   string     `json:"segment"`
	Rows      int        `json:"rows"`
	Positives int        `json:"positives"`
	Metrics   ml.Metrics `json:"metrics"`
}

// Privacy is the privacy section of a version (and of its model card).
type Privacy struct {
	// PIIPolicy says how identifiers were handled before training, e.g. "customer and
	// card ids replaced by HMAC-SHA256 tokens, key v2".
	PIIPolicy string `json:"pii_policy,omitempty"`
	// DP is set when the model was trained with differential privacy.
	DP *DPGuarantee `json:"dp,omitempty"`
	// MembershipInference holds the AUC of membership-inference attacks measured against
	// this version, by attack name ("loss-threshold", "shadow-model"): 0.5 is a coin flip.
	MembershipInference map[string]float64 `json:"membership_inference_auc,omitempty"`
}

// DPGuarantee is the (ε, δ) differential-privacy guarantee a training run spent.
type DPGuarantee struct {
	Mechanism  string  `json:"mechanism"`  // e.g. "dp-sgd"
	Epsilon    float64 `json:"epsilon"`    // as computed by Accountant
	Delta      float64 `json:"delta"`      // the δ the ε is stated at
	Accountant string  `json:"accountant"` // e.g. "rdp"
}
