package serving

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// TestExplainSumsToScore: through the HTTP route, for the linear champion (v1) and the tree
// version pinned (v2), each row's base value plus its contributions is the output, whose
// sigmoid is the score infer returns for the same row.
func TestExplainSumsToScore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	x := f.rows(10, 3)
	resp, body := f.post(t, "/v2/models/fraud/infer", servingtest.Body(x, features), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("infer = %d %s", resp.StatusCode, body)
	}
	var ir InferResponse
	if err := json.Unmarshal(body, &ir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, method, version string
		model                 ml.Model
	}{
		{"/v2/models/fraud/explain", ml.MethodLinear, "1", f.m1},
		{"/v2/models/fraud/versions/2/explain", ml.MethodTreeSHAP, "2", f.m2},
	} {
		if tc.version == "2" { // move the champion to v2; the pinned route then reaches it
			if err := servingtest.Move(ctx, f.reg, "fraud", registry.Champion, 2); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool {
				e, err := f.srv.entry("fraud")
				if err != nil {
					return false
				}
				d := e.primary.Load()
				return d != nil && d.version.Number == 2
			})
		}
		resp, body := f.post(t, tc.path, servingtest.Body(x, features), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s = %d %s, want 200", tc.path, resp.StatusCode, body)
		}
		var er ExplainResponse
		if err := json.Unmarshal(body, &er); err != nil {
			t.Fatal(err)
		}
		if er.ModelVersion != tc.version || len(er.Explanations) != 3 {
			t.Fatalf("POST %s: version %s, %d explanations; want %s, 3", tc.path, er.ModelVersion, len(er.Explanations), tc.version)
		}
		want := make([]float64, 3)
		if err := tc.model.Predict(ml.Batch{Schema: tc.model.Schema(), X: x}, want); err != nil {
			t.Fatal(err)
		}
		for i, ex := range er.Explanations {
			sum := ex.BaseValue
			for _, c := range ex.Contributions {
				sum += c
			}
			if ex.Method != tc.method || len(ex.Contributions) != features {
				t.Errorf("%s row %d: method %q with %d contributions, want %q with %d", tc.path, i, ex.Method, len(ex.Contributions), tc.method, features)
			}
			if math.Abs(sum-ex.Output) > 1e-9 || math.Abs(1/(1+math.Exp(-sum))-want[i]) > 1e-9 {
				t.Errorf("%s row %d: base + Σ contributions = %v (sigmoid %v), output %v; want the model's score %v", tc.path, i, sum, 1/(1+math.Exp(-sum)), ex.Output, want[i])
			}
			if tc.version == "1" && math.Abs(ex.Score-ir.Outputs[0].Data[i]) > 1e-12 {
				t.Errorf("explain score %v, infer score %v for row %d", ex.Score, ir.Outputs[0].Data[i], i)
			}
		}
	}
}

func TestExplainRefusesBadInput(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Keys = []APIKey{{Key: "key-fraud-team-0123456789", Tenant: "fraud-team", Models: []string{"fraud"}}}
	})
	key := map[string]string{"X-API-Key": "key-fraud-team-0123456789"}
	many := make([]float64, (MaxExplainRows+1)*features)
	tests := []struct {
		name string
		path string
		body string
		hdr  map[string]string
		code int
		has  string
	}{
		{"no key", "/v2/models/fraud/explain", string(servingtest.Body(f.rows(0, 1), features)), nil, 401, "API key"},
		{"malformed JSON", "/v2/models/fraud/explain", `{"inputs":`, key, 400, "malformed JSON"},
		{"wrong width", "/v2/models/fraud/explain", string(servingtest.Body(f.rows(0, 1)[:features-1], features-1)), key, 400, ""},
		{"too many rows", "/v2/models/fraud/explain", string(servingtest.Body(many, features)), key, 400, "at most"},
		{"unknown model", "/v2/models/nope/explain", string(servingtest.Body(f.rows(0, 1), features)), key, 403, ""},
		{"version not served", "/v2/models/fraud/versions/7/explain", string(servingtest.Body(f.rows(0, 1), features)), key, 404, "not served"},
	}
	for _, tc := range tests {
		resp, body := f.post(t, tc.path, []byte(tc.body), tc.hdr)
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.has) {
			t.Errorf("%s: POST %s = %d %.200s, want %d containing %q", tc.name, tc.path, resp.StatusCode, body, tc.code, tc.has)
		}
	}
}
