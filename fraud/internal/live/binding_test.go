package live

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/registry"
)

// TestServingRefusesModelOfOtherViews: the fraud model records the feature service it was
// trained on, and the fraud server, fed by the system's views, refuses a version trained on
// views of another definition (here a 2 h bucket instead of 1 h), keeping the one it has.
func TestServingRefusesModelOfOtherViews(t *testing.T) {
	ctx := context.Background()
	sys := smallSystem(t, prometheus.NewRegistry(), nil)
	want, err := sys.Features.SchemaHash(txfeatures.Service)
	if err != nil {
		t.Fatal(err)
	}
	if sys.Version.FeatureService != txfeatures.Service || sys.Version.FeatureServiceHash != want {
		t.Fatalf("served version records service %q hash %q, want %q %q", sys.Version.FeatureService, sys.Version.FeatureServiceHash, txfeatures.Service, want)
	}

	if imp := sys.Version.Importance; imp == nil || len(imp.Features) != len(txfeatures.Names) || imp.Rows == 0 {
		t.Errorf("served version's importance %+v, want one per feature over validation rows", imp)
	}

	other := features.NewRegistry()
	if err := txfeatures.RegisterStream(other, 2*time.Hour, sys.Config.TxLateness, 8*Day); err != nil {
		t.Fatal(err)
	}
	otherHash, err := other.SchemaHash(txfeatures.Service)
	if err != nil {
		t.Fatal(err)
	}
	if otherHash == want {
		t.Fatal("a 2 h bucket hashes like a 1 h one: the test would prove nothing")
	}
	cur, err := sys.Registry.Resolve(ctx, "fraud", "1")
	if err != nil {
		t.Fatal(err)
	}
	art, err := sys.Registry.Artifact(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	v2 := cur
	v2.DataFingerprint, v2.FeatureServiceHash = "trained-on-2h-buckets", otherHash
	reg2, _, err := sys.Registry.Register(ctx, registry.RegisterRequest{Data: art, Version: v2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Registry.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: reg2.Number,
		Actor: "test", Gates: registry.DefaultGates(), Force: true, Reason: "forced past the gates to see serving refuse it"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second) // ends a test that makes no progress
	for {
		st, err := sys.Server.Status("fraud")
		if err != nil {
			t.Fatal(err)
		}
		if st.Refused != "" {
			if st.Primary != cur.Number {
				t.Errorf("after refusing v%d the server serves v%d, want v%d", reg2.Number, st.Primary, cur.Number)
			}
			t.Logf("refused: %s", st.Refused)
			break
		}
		if st.Primary == reg2.Number {
			t.Fatalf("the server loaded v%d, trained on other views", reg2.Number)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal of v%d within 60 s (status %+v)", reg2.Number, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
