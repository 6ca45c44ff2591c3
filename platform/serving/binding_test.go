package serving

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	featurestore "github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// bindingFixture registers fraud v1 trained on fraud_model@1 (champion) and v2 trained on
// fraud_model@2, and returns the feature registry both services are defined in.
func bindingFixture(t *testing.T) (*registry.Registry, *featurestore.Registry, string, string) {
	t.Helper()
	ctx := context.Background()
	_, m1, m2 := trainedModels(t)
	freg, err := featurestest.Registry()
	if err != nil {
		t.Fatal(err)
	}
	if err := freg.RegisterService(featurestore.FeatureService{Name: "fraud_model", Version: 2, Features: []string{
		"customer_spending:tx_count_1d", "terminal_risk:fraud_rate_30d_delay7d",
	}}); err != nil {
		t.Fatal(err)
	}
	h1, err := freg.SchemaHash("fraud_model@1")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := freg.SchemaHash("fraud_model@2")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := servingtest.OpenRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := servingtest.RegisterTrainedOn(ctx, reg, "fraud", m1, "fraud_model@1", h1, registry.Champion); err != nil {
		t.Fatal(err)
	}
	if _, err := servingtest.RegisterTrainedOn(ctx, reg, "fraud", m2, "fraud_model@2", h2, ""); err != nil {
		t.Fatal(err)
	}
	return reg, freg, h1, h2
}

func bindingServer(t *testing.T, reg *registry.Registry, mutate func(*Config)) (*Server, *prometheus.Registry) {
	t.Helper()
	prom := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Registerer = prom
	cfg.Models = []ModelConfig{fraudConfig()}
	mutate(&cfg)
	srv, err := New(context.Background(), reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, prom
}

// refusals returns the registry's refuse-load audit entries.
func refusals(t *testing.T, reg *registry.Registry) []registry.AuditEntry {
	t.Helper()
	all, err := reg.Audit(context.Background(), "fraud")
	if err != nil {
		t.Fatal(err)
	}
	var out []registry.AuditEntry
	for _, e := range all {
		if e.Action == registry.ActionRefuseLoad {
			out = append(out, e)
		}
	}
	return out
}

// A server bound to a feature service refuses, on an alias move, a version trained on
// another one: the old version keeps answering, and the refusal is counted and audited.
func TestServingRefusesVersionTrainedOnAnotherFeatureService(t *testing.T) {
	for _, tc := range []struct {
		name string
		bind func(c *Config, h1 string, freg *featurestore.Registry)
	}{
		{"hash in the config", func(c *Config, h1 string, _ *featurestore.Registry) {
			c.Models[0].FeatureService, c.Models[0].FeatureServiceHash = "fraud_model@1", h1
		}},
		{"checked against the feature registry", func(c *Config, _ string, freg *featurestore.Registry) {
			c.Features, c.Models[0].FeatureService = freg, "fraud_model@1"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			reg, freg, h1, _ := bindingFixture(t)
			srv, prom := bindingServer(t, reg, func(c *Config) { tc.bind(c, h1, freg) })
			if st, _ := srv.Status("fraud"); st.Primary != 1 || st.Refused != "" {
				t.Fatalf("Status after start = %+v, want primary v1 and nothing refused", st)
			}
			if err := servingtest.Move(ctx, reg, "fraud", registry.Champion, 2); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { st, _ := srv.Status("fraud"); return st.Refused != "" })
			st, _ := srv.Status("fraud")
			if st.Primary != 1 || !strings.Contains(st.Refused, "fraud_model@2") {
				t.Errorf("Status after champion → v2 = %+v, want primary v1 and a refusal naming fraud_model@2", st)
			}
			data, _, _ := trainedModels(t)
			res, err := srv.Infer(ctx, Request{Model: "fraud", Decoded: Decoded{X: data.X[:features], Rows: 1}})
			if err != nil || res.Version != 1 || res.Path != PathPrimary {
				t.Errorf("Infer after the refused move = %+v, %v; want v1 from the primary path", res, err)
			}
			if got := testutil.ToFloat64(srv.met.modelRefused.WithLabelValues("fraud", "feature-service")); got != 1 {
				t.Errorf("casebook_serving_model_refused_total{reason=feature-service} = %v, want 1", got)
			}
			if n, err := testutil.GatherAndCount(prom, "casebook_serving_model_refused_total"); err != nil || n != 1 {
				t.Errorf("registered refused series = %d, %v; want 1", n, err)
			}
			if rs := refusals(t, reg); len(rs) != 1 || rs[0].From != 1 || rs[0].To != 2 || rs[0].Alias != registry.Champion || !strings.Contains(rs[0].Reason, "feature service") {
				t.Errorf("refuse-load audit entries = %+v, want one: champion v1 kept, v2 refused, with the reason", rs)
			}
			if _, err := reg.VerifyAudit(ctx); err != nil {
				t.Errorf("VerifyAudit after the refusal: %v", err)
			}
			// Moving back to v1 clears the refusal.
			if _, err := reg.Rollback(ctx, "fraud", registry.Champion, "t", "refused by serving"); err != nil {
				t.Fatalf("Rollback: %v (a refuse-load entry must not count as a move)", err)
			}
			waitFor(t, func() bool { st, _ := srv.Status("fraud"); return st.Refused == "" })
		})
	}
}

// A server bound to a feature service does not load, even at start, a champion trained on
// another one: it answers from the fallback chain instead.
func TestServingRefusesMismatchedChampionAtStart(t *testing.T) {
	reg, _, _, h2 := bindingFixture(t)
	srv, _ := bindingServer(t, reg, func(c *Config) {
		c.Models[0].FeatureService, c.Models[0].FeatureServiceHash = "fraud_model@2", h2
	})
	st, _ := srv.Status("fraud")
	if st.Primary != 0 || !strings.Contains(st.Refused, ErrFeatureServiceMismatch.Error()) {
		t.Errorf("Status = %+v, want nothing loaded and the feature-service refusal", st)
	}
	if rs := refusals(t, reg); len(rs) != 1 || rs[0].From != 0 || rs[0].To != 1 {
		t.Errorf("refuse-load audit entries = %+v, want one for v1 with nothing kept", rs)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	resp, err := ts.Client().Post(ts.URL+"/v2/repository/index", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var index []map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil || len(index) != 1 ||
		index[0]["state"] != "UNAVAILABLE" || !strings.Contains(index[0]["reason"], "fraud_model@1") {
		t.Errorf("repository index = %v, %v; want fraud UNAVAILABLE with the refusal as its reason", index, err)
	}
}

func TestFeatureServiceNeedsAHashOrRegistry(t *testing.T) {
	cfg := DefaultConfig()
	mc := fraudConfig()
	mc.FeatureService = "fraud_model"
	cfg.Models = []ModelConfig{mc}
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Validate(FeatureService without a hash or Features) = %v, want ErrInvalidConfig", err)
	}
}

// A shadow version whose feature schema differs from the primary's is refused and counted;
// a good one is followed, and removing the alias stops mirroring.
func TestShadowFollowerRefusesOtherSchemaAndDropsOnRemove(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(c *Config) { c.Models[0].ShadowAlias = registry.Shadow })
	narrow, err := f.data.Dataset.SelectFeatures(f.data.Schema.Names()[:5])
	if err != nil {
		t.Fatal(err)
	}
	m3, err := servingtest.LogReg(ctx, narrow)
	if err != nil {
		t.Fatal(err)
	}
	v3, err := servingtest.Register(ctx, f.reg, "fraud", m3, registry.Shadow)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := f.srv.Status("fraud"); return st.Refused != "" })
	if st, _ := f.srv.Status("fraud"); st.Shadow != 0 || !strings.Contains(st.Refused, "schema differs") {
		t.Errorf("Status after shadow → v%d (5 features) = %+v, want no shadow and a schema refusal", v3.Number, st)
	}
	if got := testutil.ToFloat64(f.srv.met.modelRefused.WithLabelValues("fraud", "schema")); got != 1 {
		t.Errorf("casebook_serving_model_refused_total{reason=schema} = %v, want 1", got)
	}
	if err := servingtest.Move(ctx, f.reg, "fraud", registry.Shadow, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := f.srv.Status("fraud"); return st.Shadow == 2 && st.Refused == "" })
	if err := f.reg.RemoveAlias(ctx, "fraud", registry.Shadow, "t", "shadow run over"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := f.srv.Status("fraud"); return st.Shadow == 0 })
	if st, _ := f.srv.Status("fraud"); st.Primary != 1 || st.Refused != "" {
		t.Errorf("Status after the shadow alias was removed = %+v, want primary v1 and nothing refused", st)
	}
}
