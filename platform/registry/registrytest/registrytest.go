// Package registrytest is the conformance suite every registry.Store must pass, run
// through the Registry so that it checks the behaviour users rely on (numbering, content
// addressing, gates, audit chain, watch), plus helpers that build registration requests.
package registrytest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/seal"
)

// Harness opens stores and reaches around the seam to damage them.
type Harness struct {
	// Open returns a fresh, empty store.
	Open func(t *testing.T) registry.Store
	// OverwriteAudit replaces an audit entry in place (tampering).
	OverwriteAudit func(t *testing.T, s registry.Store, e registry.AuditEntry)
	// ReplaceArtifact replaces the bytes stored under sum (corruption).
	ReplaceArtifact func(t *testing.T, s registry.Store, sum string, data []byte)
	// DeleteArtifact removes the bytes stored under sum.
	DeleteArtifact func(t *testing.T, s registry.Store, sum string)
	// Keyring, when set, runs the whole suite with artifacts sealed at rest, plus the
	// Sealed checks.
	Keyring *seal.Keyring
}

var (
	modelOnce sync.Once
	modelData []byte
	modelSch  ml.Schema
)

// Artifact returns a small trained logistic regression's artifact and schema (trained
// once per test binary).
func Artifact(t testing.TB) ([]byte, ml.Schema) {
	t.Helper()
	modelOnce.Do(func() {
		d := mltest.Fraudish(2_000, 6, 1).Dataset
		m, err := ml.TrainLogReg(context.Background(), d, ml.DefaultLogRegConfig())
		if err != nil {
			panic(err)
		}
		modelData, _ = m.MarshalBinary()
		modelSch = d.Schema
	})
	return modelData, modelSch
}

// Request builds a registration of Artifact with the given holdout AUC; fingerprint makes
// it a distinct version.
func Request(t testing.TB, model, fingerprint string, auc float64) registry.RegisterRequest {
	data, s := Artifact(t)
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	return registry.RegisterRequest{Data: data, Version: registry.Version{
		Model: model, Family: string(ml.FamilyLogReg), Schema: s,
		Metrics:         map[string]ml.Metrics{"holdout": {ml.MetricAUC: auc, ml.MetricLogLoss: 0.3}},
		PredictP99:      20 * time.Microsecond,
		DataRange:       registry.DataRange{From: day, To: day.AddDate(0, 0, 14)},
		DataFingerprint: fingerprint, CodeVersion: "test", RegisteredBy: "registrytest",
		Params: map[string]string{"l2": "1e-4"}, IntendedUse: "conformance tests", KnownLimits: []string{"synthetic data"},
	}}
}

func newRegistry(t *testing.T, h Harness) (*registry.Registry, registry.Store) {
	t.Helper()
	s := h.Open(t)
	cfg := registry.DefaultConfig()
	cfg.Keyring = h.Keyring
	r, err := registry.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

func register(t *testing.T, r *registry.Registry, req registry.RegisterRequest) registry.Version {
	t.Helper()
	v, _, err := r.Register(context.Background(), req)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return v
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Run("RegisterLoad", func(t *testing.T) { testRegisterLoad(t, h) })
	t.Run("Numbering", func(t *testing.T) { testNumbering(t, h) })
	t.Run("Idempotent", func(t *testing.T) { testIdempotent(t, h) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, h) })
	t.Run("CorruptArtifact", func(t *testing.T) { testCorrupt(t, h) })
	t.Run("Gates", func(t *testing.T) { testGates(t, h) })
	t.Run("Rollback", func(t *testing.T) { testRollback(t, h) })
	t.Run("AuditTamper", func(t *testing.T) { testTamper(t, h) })
	t.Run("Watch", func(t *testing.T) { testWatch(t, h) })
	t.Run("Card", func(t *testing.T) { testCard(t, h) })
	t.Run("Archive", func(t *testing.T) { testArchive(t, h) })
	t.Run("NonModelArtifact", func(t *testing.T) { testNonModelArtifact(t, h) })
	if h.Keyring.Enabled() {
		t.Run("Sealed", func(t *testing.T) { testSealed(t, h) })
	}
}

// The recommender registers an ANN index, not an ml.Model: any artifact with a hash,
// a schema and metrics can be versioned, gated and aliased.
func testNonModelArtifact(t *testing.T, h Harness) {
	ctx := context.Background()
	r, _ := newRegistry(t, h)
	emb := ml.Schema{Features: []ml.Feature{{Name: "item_embedding", Type: ml.Float}}}
	req := func(fp string, data []byte, recall float64) registry.RegisterRequest {
		return registry.RegisterRequest{Data: data, Version: registry.Version{
			Model: "items-ann", Family: "ann-index", Schema: emb, RegisteredBy: "recsys",
			Metrics:    map[string]ml.Metrics{"holdout": {"recall_at_10": recall}},
			PredictP99: 300 * time.Microsecond, DataFingerprint: fp,
		}}
	}
	v1 := register(t, r, req("a", []byte("hnsw index bytes v1"), 0.95))
	v2 := register(t, r, req("b", []byte("hnsw index bytes v2"), 0.90))
	g := registry.Gates{EvalSet: "holdout", Metric: "recall_at_10", MinImprovement: -0.01, LatencyBudget: time.Millisecond}
	if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "items-ann", Alias: registry.Champion, Version: v1.Number, Actor: "recsys", Gates: g}); err != nil {
		t.Fatal(err)
	}
	_, err := r.Promote(ctx, registry.PromoteRequest{Model: "items-ann", Alias: registry.Champion, Version: v2.Number, Actor: "recsys", Gates: g})
	if !errors.Is(err, registry.ErrGateFailed) {
		t.Errorf("Promote(index with recall 0.05 lower, allowed 0.01) = %v, want ErrGateFailed", err)
	}
	v, err := r.Resolve(ctx, "items-ann", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.Artifact(ctx, v)
	if err != nil || string(data) != "hnsw index bytes v1" {
		t.Errorf("Artifact(items-ann@champion) = %q, %v; want the v1 index bytes", data, err)
	}
}

func testRegisterLoad(t *testing.T, h Harness) {
	ctx := context.Background()
	r, _ := newRegistry(t, h)
	req := Request(t, "fraud", "fp-1", 0.9)
	v, created, err := r.Register(ctx, req)
	if err != nil || !created || v.Number != 1 {
		t.Fatalf("Register = v%d, created %v, %v; want v1, true, nil", v.Number, created, err)
	}
	if v.Artifact != registry.Sum(req.Data) || v.SchemaHash != req.Schema.Hash() || v.Size != int64(len(req.Data)) || v.RegisteredAt.IsZero() {
		t.Errorf("Register recorded %+v, want sha256, schema hash, size and time filled in", v)
	}
	m, got, err := r.Load(ctx, "fraud", "1")
	if err != nil {
		t.Fatalf("Load(fraud, 1) = %v", err)
	}
	if got.Number != 1 || m.Family() != ml.FamilyLogReg || got.Metrics["holdout"][ml.MetricAUC] != 0.9 ||
		got.DataFingerprint != "fp-1" || got.Params["l2"] != "1e-4" || !got.DataRange.To.Equal(req.DataRange.To) {
		t.Errorf("Load(fraud, 1) version = %+v, want what was registered", got)
	}
	models, err := r.Models(ctx)
	if err != nil || len(models) != 1 || models[0] != "fraud" {
		t.Errorf("Models() = %v, %v, want [fraud]", models, err)
	}
}

func testNumbering(t *testing.T, h Harness) {
	ctx := context.Background()
	r, _ := newRegistry(t, h)
	for i := 1; i <= 3; i++ {
		if v := register(t, r, Request(t, "m", fmt.Sprintf("fp-%d", i), 0.8)); v.Number != i {
			t.Errorf("Register #%d = v%d, want v%d", i, v.Number, i)
		}
	}
	// Concurrent registrations each get a distinct number.
	var wg sync.WaitGroup
	nums := make([]int, 6)
	errs := make([]error, 6)
	for i := range nums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, err := r.Register(ctx, Request(t, "m", fmt.Sprintf("concurrent-%d", i), 0.8))
			nums[i], errs[i] = v.Number, err
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for i, n := range nums {
		if errs[i] != nil {
			t.Fatalf("concurrent Register: %v", errs[i])
		}
		if seen[n] || n < 4 || n > 9 {
			t.Errorf("concurrent Register numbers = %v, want a permutation of 4..9", nums)
		}
		seen[n] = true
	}
	vs, _ := r.Versions(ctx, "m")
	if len(vs) != 9 {
		t.Errorf("Versions(m) has %d entries, want 9", len(vs))
	}
	if n, err := r.VerifyAudit(ctx); err != nil || n != 9 {
		t.Errorf("VerifyAudit() = %d, %v, want 9 entries and an intact chain", n, err)
	}
}

func testIdempotent(t *testing.T, h Harness) {
	ctx := context.Background()
	r, s := newRegistry(t, h)
	v1 := register(t, r, Request(t, "m", "same", 0.8))
	v2, created, err := r.Register(ctx, Request(t, "m", "same", 0.8))
	if err != nil || created || v2.Number != v1.Number {
		t.Errorf("Register(same artifact and data) = v%d, created %v, %v; want v%d, false, nil", v2.Number, created, err, v1.Number)
	}
	audit, _ := s.Audit(ctx)
	if len(audit) != 1 {
		t.Errorf("audit has %d entries after an idempotent rerun, want 1", len(audit))
	}
}

func testBadInput(t *testing.T, h Harness) {
	ctx := context.Background()
	r, s := newRegistry(t, h)
	if _, err := r.Resolve(ctx, "nope", "1"); !errors.Is(err, registry.ErrModelNotFound) {
		t.Errorf("Resolve(unknown model) = %v, want ErrModelNotFound", err)
	}
	register(t, r, Request(t, "m", "fp", 0.8))
	tests := []struct {
		ref  string
		want error
	}{
		{"7", registry.ErrVersionNotFound},
		{"champion", registry.ErrAliasNotFound},
		{"ghost", registry.ErrDanglingAlias},
	}
	if err := s.SetAlias(ctx, "m", "ghost", 99); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if _, _, err := r.Load(ctx, "m", tt.ref); !errors.Is(err, tt.want) {
			t.Errorf("Load(m, %s) = %v, want %v", tt.ref, err, tt.want)
		}
	}
	bad := map[string]func(*registry.RegisterRequest){
		"bad name":         func(q *registry.RegisterRequest) { q.Model = "Bad Name" },
		"garbage artifact": func(q *registry.RegisterRequest) { q.Data = []byte("not a model") },
		"schema mismatch":  func(q *registry.RegisterRequest) { q.Schema = ml.FloatSchema("a", "b") },
		"NaN metric":       func(q *registry.RegisterRequest) { q.Metrics["holdout"]["auc"] = math.NaN() },
		"no actor":         func(q *registry.RegisterRequest) { q.RegisteredBy = "" },
		"wrong family":     func(q *registry.RegisterRequest) { q.Family = string(ml.FamilyGBDT) },
		"missing parent":   func(q *registry.RegisterRequest) { q.Parent = 42 },
	}
	for name, mutate := range bad {
		req := Request(t, "fresh", "fp-"+name, 0.8)
		mutate(&req)
		if _, _, err := r.Register(ctx, req); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("Register(%s) = %v, want ErrInvalid", name, err)
		}
	}
	if err := s.SetAlias(ctx, "m", "../escape", 1); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("Store.SetAlias(m, ../escape) = %v, want ErrInvalid", err)
	}
	if err := s.CreateVersion(ctx, registry.Version{Model: "../escape", Number: 1}); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("Store.CreateVersion(../escape) = %v, want ErrInvalid", err)
	}
	if vs, err := s.ListVersions(ctx, "fresh"); err != nil || len(vs) != 0 {
		t.Errorf("after failed registrations ListVersions(fresh) = %d versions, %v; want none", len(vs), err)
	}
}

func testCorrupt(t *testing.T, h Harness) {
	ctx := context.Background()
	r, s := newRegistry(t, h)
	v := register(t, r, Request(t, "m", "fp", 0.8))
	good, _, err := r.Load(ctx, "m", "1")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := Artifact(t)
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 1
	h.ReplaceArtifact(t, s, v.Artifact, flipped)
	var ae *registry.ArtifactError
	m, _, err := r.Load(ctx, "m", "1")
	if !errors.As(err, &ae) || !errors.Is(err, registry.ErrArtifactCorrupt) || m != nil {
		t.Errorf("Load(corrupt artifact) = %v, %v; want nil and an ArtifactError wrapping ErrArtifactCorrupt", m, err)
	}
	if good == nil {
		t.Error("the model loaded before the corruption is gone")
	}
	h.DeleteArtifact(t, s, v.Artifact)
	if _, _, err := r.Load(ctx, "m", "1"); !errors.Is(err, registry.ErrArtifactNotFound) {
		t.Errorf("Load(missing artifact) = %v, want ErrArtifactNotFound", err)
	}
}

func testGates(t *testing.T, h Harness) {
	ctx := context.Background()
	r, _ := newRegistry(t, h)
	v1 := register(t, r, Request(t, "m", "fp-1", 0.80))
	gates := registry.DefaultGates()
	gates.MinImprovement = 0.01
	gates.ServingSchemaHash = v1.SchemaHash
	gates.LatencyBudget = time.Millisecond
	promote := func(v int, g registry.Gates, force bool, reason string) (registry.Move, error) {
		return r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Champion, Version: v, Actor: "alice", Reason: reason, Gates: g, Force: force})
	}
	if _, err := promote(1, gates, false, "first champion"); err != nil {
		t.Fatalf("Promote(v1, no holder) = %v, want nil", err)
	}
	v2 := register(t, r, Request(t, "m", "fp-2", 0.805)) // +0.005, needs +0.01
	_, err := promote(v2.Number, gates, false, "")
	var ge *registry.GateError
	if !errors.As(err, &ge) || !errors.Is(err, registry.ErrGateFailed) {
		t.Fatalf("Promote(v2 beats by 0.005, margin 0.01) = %v, want a GateError", err)
	}
	if ge.Results[0].Passed || math.Abs(ge.Results[0].Margin+0.005) > 1e-9 || !strings.Contains(err.Error(), "margin -0.0050") {
		t.Errorf("metric gate = %+v (%v), want failed with margin -0.005", ge.Results[0], err)
	}
	other := gates
	other.ServingSchemaHash = ml.FloatSchema("something", "else").Hash()
	other.LatencyBudget = 10 * time.Microsecond
	other.MinImprovement = 0
	_, err = promote(v2.Number, other, false, "")
	if !errors.As(err, &ge) || ge.Results[1].Passed || ge.Results[2].Passed || !strings.Contains(err.Error(), "10µs over") {
		t.Errorf("Promote(schema and latency wrong) = %v, want schema and latency gates failed, latency by 10µs", err)
	}
	if al, _ := r.Aliases(ctx, "m"); al[registry.Champion] != 1 {
		t.Errorf("after refusals champion = v%d, want v1", al[registry.Champion])
	}
	if _, err := promote(v2.Number, gates, true, ""); !errors.Is(err, registry.ErrForceNeedsReason) {
		t.Errorf("Promote(force, no reason) = %v, want ErrForceNeedsReason", err)
	}
	mv, err := promote(v2.Number, gates, true, "incident 42: v1 mis-scores a new merchant category")
	if err != nil || !mv.Audit.Forced || mv.Audit.Action != registry.ActionForcePromote || mv.Audit.From != 1 || mv.Audit.To != 2 {
		t.Errorf("Promote(force, reason) = %+v, %v; want a forced, audited move v1 → v2", mv.Audit, err)
	}
	if al, _ := r.Aliases(ctx, "m"); al[registry.Champion] != 2 {
		t.Errorf("after forced promotion champion = v%d, want v2", al[registry.Champion])
	}
	if _, err := promote(v2.Number, gates, false, "again"); !errors.Is(err, registry.ErrNoChange) {
		t.Errorf("Promote(to the version it already holds) = %v, want ErrNoChange", err)
	}
}

func testRollback(t *testing.T, h Harness) {
	ctx := context.Background()
	r, _ := newRegistry(t, h)
	g := registry.DefaultGates()
	for i, auc := range []float64{0.8, 0.81, 0.82} {
		v := register(t, r, Request(t, "m", fmt.Sprint(i), auc))
		if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Champion, Version: v.Number, Actor: "ci", Gates: g}); err != nil {
			t.Fatal(err)
		}
	}
	mv, err := r.Rollback(ctx, "m", registry.Champion, "bob", "v3 raised false positives")
	if err != nil || mv.Audit.From != 3 || mv.Audit.To != 2 {
		t.Fatalf("Rollback = %+v, %v; want v3 → v2", mv.Audit, err)
	}
	mv, err = r.Rollback(ctx, "m", registry.Champion, "bob", "v2 too")
	if err != nil || mv.Audit.To != 1 {
		t.Errorf("second Rollback = %+v, %v; want v2 → v1", mv.Audit, err)
	}
	if _, err := r.Rollback(ctx, "m", registry.Champion, "bob", "again"); !errors.Is(err, registry.ErrNothingToRollBack) {
		t.Errorf("third Rollback = %v, want ErrNothingToRollBack", err)
	}
}

func testTamper(t *testing.T, h Harness) {
	ctx := context.Background()
	r, s := newRegistry(t, h)
	for i := 0; i < 3; i++ {
		v := register(t, r, Request(t, "m", fmt.Sprint(i), 0.8+float64(i)/100))
		if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Champion, Version: v.Number, Actor: "ci", Reason: "nightly", Gates: registry.DefaultGates()}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := r.VerifyAudit(ctx); err != nil || n != 6 {
		t.Fatalf("VerifyAudit() = %d, %v, want 6 and nil", n, err)
	}
	entries, _ := s.Audit(ctx)
	e := entries[3] // the promotion of v2
	e.Actor = "mallory"
	h.OverwriteAudit(t, s, e)
	_, err := r.VerifyAudit(ctx)
	var te *registry.TamperError
	if !errors.As(err, &te) || te.Seq != 4 {
		t.Errorf("VerifyAudit(after editing entry 4) = %v, want a TamperError at entry 4", err)
	}
	// Recomputing the edited entry's own hash does not help: the next entry's link breaks.
	e.Hash = registry.EntryHash(e)
	h.OverwriteAudit(t, s, e)
	if _, err := r.VerifyAudit(ctx); !errors.As(err, &te) || te.Seq != 5 {
		t.Errorf("VerifyAudit(after editing entry 4 and rehashing it) = %v, want a TamperError at entry 5", err)
	}
}

func testWatch(t *testing.T, h Harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, _ := newRegistry(t, h)
	v1 := register(t, r, Request(t, "m", "1", 0.8))
	if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Champion, Version: v1.Number, Actor: "ci", Gates: registry.DefaultGates()}); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := func(ev registry.AliasEvent) {
		t.Helper()
		select {
		case got := <-ch:
			if got != ev {
				t.Errorf("watch event = %+v, want %+v", got, ev)
			}
		case <-ctx.Done():
			t.Fatalf("no watch event, want %+v", ev)
		}
	}
	want(registry.AliasEvent{Model: "m", Alias: registry.Champion, Version: 1})
	v2 := register(t, r, Request(t, "m", "2", 0.81))
	if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Shadow, Version: v2.Number, Actor: "ci", Gates: registry.DefaultGates()}); err != nil {
		t.Fatal(err)
	}
	want(registry.AliasEvent{Model: "m", Alias: registry.Shadow, Version: 2})
	if err := r.RemoveAlias(ctx, "m", registry.Shadow, "ci", "shadow run over"); err != nil {
		t.Fatal(err)
	}
	want(registry.AliasEvent{Model: "m", Alias: registry.Shadow, Version: 0})
}

func testCard(t *testing.T, h Harness) {
	ctx := context.Background()
	r, _ := newRegistry(t, h)
	v1 := register(t, r, Request(t, "m", "1", 0.8))
	req := Request(t, "m", "2", 0.85)
	req.Parent = v1.Number
	req.FeatureService, req.FeatureServiceHash = "fraud_v2", "sha256:feedbeef"
	req.Importance = &registry.Importance{Method: "treeshap", Set: "holdout", Rows: 500,
		Features: []registry.FeatureImportance{{Feature: "f01", MeanAbs: 0.05}, {Feature: "f00", MeanAbs: 0.42}}}
	req.Slices = []registry.SliceMetrics{
		{Slice: "amount", Segment: "amount < 100", Rows: 4000, Positives: 80, Metrics: ml.Metrics{ml.MetricAUC: 0.91}},
		{Slice: "amount", Segment: "amount ≥ 100", Rows: 150, Positives: 9, Metrics: ml.Metrics{ml.MetricAUC: 0.74}},
	}
	req.Privacy = &registry.Privacy{PIIPolicy: "card ids replaced by HMAC-SHA256 tokens",
		DP:                  &registry.DPGuarantee{Mechanism: "dp-sgd", Epsilon: 2, Delta: 1e-5, Accountant: "rdp"},
		MembershipInference: map[string]float64{"loss-threshold": 0.512, "shadow-model": 0.534}}
	v2 := register(t, r, req)
	g := registry.DefaultGates()
	g.ServingSchemaHash = v2.FeatureServiceHash
	if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Champion, Version: v2.Number, Actor: "ci", Reason: "weekly retrain", Gates: g}); err != nil {
		t.Fatal(err)
	}
	card, err := r.Card(ctx, "m", "champion")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Model card: m v2", "## Intended use", "conformance tests", "2026-11-01", "| 1 | f00 | float |",
		"| auc | 0.8500 |", "metric:holdout/auc passed", "feature-schema passed", "latency-p99 passed", "v2 ← v1", "synthetic data", "`champion`",
		"feature service `fraud_v2` (sha256:feedbeef)",
		"## Global feature importance", "over 500 holdout rows (treeshap explanations)", "| f00 | 0.4200 |\n| f01 | 0.0500 |",
		"## Fairness slices", "| amount | amount < 100 | 4000 | 80 | 0.9100 |", "| amount | amount ≥ 100 *small* | 150 | 9 | 0.7400 |",
		"## Privacy", "PII policy: card ids replaced by HMAC-SHA256 tokens", "dp-sgd, ε = 2 at δ = 1e-05 (rdp accountant)",
		"loss-threshold: 0.512", "shadow-model: 0.534"} {
		if !strings.Contains(card, want) {
			t.Errorf("Card() lacks %q:\n%s", want, card)
		}
	}
	card1, err := r.Card(ctx, "m", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Global feature importance\n\nNone recorded.", "## Fairness slices\n\nNone recorded.", "## Privacy\n\nNone recorded"} {
		if !strings.Contains(card1, want) {
			t.Errorf("v1's card lacks %q:\n%s", want, card1)
		}
	}
}

// testArchive: a version an alias holds cannot be archived; an archived one can be neither
// promoted nor rolled back to, and the archive is an audit entry with who and why.
func testArchive(t *testing.T, h Harness) {
	ctx := context.Background()
	r, _ := newRegistry(t, h)
	v1 := register(t, r, Request(t, "m", "1", 0.8))
	v2 := register(t, r, Request(t, "m", "2", 0.85))
	g := registry.DefaultGates()
	g.ServingSchemaHash = v1.SchemaHash
	promote := func(v int) error {
		_, err := r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Champion, Version: v, Actor: "ci", Reason: "test", Gates: g})
		return err
	}
	if err := promote(v1.Number); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Archive(ctx, "m", v1.Number, "alice", "superseded"); !errors.Is(err, registry.ErrAliasHolds) {
		t.Errorf("Archive of the champion = %v, want ErrAliasHolds", err)
	}
	if _, err := r.Archive(ctx, "m", v2.Number, "alice", ""); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("Archive without a reason = %v, want ErrInvalid", err)
	}
	if err := promote(v2.Number); err != nil {
		t.Fatal(err)
	}
	e, err := r.Archive(ctx, "m", v1.Number, "alice", "trained on data withdrawn by the partner")
	if err != nil {
		t.Fatal(err)
	}
	if e.Action != registry.ActionArchive || e.Actor != "alice" || e.To != v1.Number || e.Reason == "" {
		t.Errorf("archive entry = %+v", e)
	}
	if _, err := r.Rollback(ctx, "m", registry.Champion, "bob", "page"); !errors.Is(err, registry.ErrArchived) {
		t.Errorf("Rollback to the archived v1 = %v, want ErrArchived", err)
	}
	if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Shadow, Version: v1.Number, Actor: "bob", Reason: "x", Gates: g, Force: true}); !errors.Is(err, registry.ErrArchived) {
		t.Errorf("forced Promote of the archived v1 = %v, want ErrArchived", err)
	}
	card, err := r.Card(ctx, "m", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(card, "| archived | entry") || !strings.Contains(card, "by alice: trained on data withdrawn") {
		t.Errorf("v1's card does not say it was archived:\n%s", card)
	}
	if _, err := r.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit: %v", err)
	}
}
