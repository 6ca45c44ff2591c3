package serving

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

func TestInferMatchesModel(t *testing.T) {
	f := newFixture(t, nil)
	x := f.rows(0, 5)
	resp, body := f.post(t, "/v2/models/fraud/infer", servingtest.Body(x, features), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("infer status = %d (%s), want 200", resp.StatusCode, body)
	}
	var ir InferResponse
	if err := json.Unmarshal(body, &ir); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 5)
	if err := f.m1.Predict(ml.Batch{Schema: f.m1.Schema(), X: x}, want); err != nil {
		t.Fatal(err)
	}
	if len(ir.Outputs) != 1 || len(ir.Outputs[0].Data) != 5 {
		t.Fatalf("infer outputs = %+v, want one output of 5 scores", ir.Outputs)
	}
	for i := range want {
		if math.Abs(ir.Outputs[0].Data[i]-want[i]) > 1e-12 {
			t.Errorf("score[%d] = %v, want %v (the model called directly)", i, ir.Outputs[0].Data[i], want[i])
		}
	}
	if got := resp.Header.Get(HeaderPath); got != PathPrimary {
		t.Errorf("%s = %q, want %q", HeaderPath, got, PathPrimary)
	}
	if ir.ModelVersion != "1" || ir.Parameters["path"] != PathPrimary {
		t.Errorf("model_version, path = %q, %v; want \"1\", primary", ir.ModelVersion, ir.Parameters["path"])
	}
	// The same model pinned by version.
	if resp, body := f.post(t, "/v2/models/fraud/versions/1/infer", servingtest.Body(x, features), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("versioned infer = %d (%s), want 200", resp.StatusCode, body)
	}
}

func TestEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		path string
		code int
		has  string
	}{
		{"/v2/health/live", 200, `"live":true`},
		{"/v2/health/ready", 200, `"ready":true`},
		{"/v2", 200, "casebook-serving"},
		{"/v2/models/fraud", 200, `"f07"`},
		{"/v2/models/fraud/versions/1", 200, `"platform":"casebook-logreg"`},
		{"/v2/models/fraud/ready", 200, `"ready":true`},
		{"/v2/models/fraud/versions/9/ready", 503, `"ready":false`},
		{"/v2/models/nope", 404, "model not found"},
		{"/v2/models/fraud/versions/9", 404, "not served"},
		{"/metrics", 200, "casebook_serving_breaker_state"},
		{"/nowhere", 404, "no such endpoint"},
	}
	for _, tc := range tests {
		resp, body := f.get(t, tc.path, nil)
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.has) {
			t.Errorf("GET %s = %d %s, want %d containing %s", tc.path, resp.StatusCode, body, tc.code, tc.has)
		}
	}
}

// TestUnknownInputName: an infer request whose input tensor the model does not declare is a
// 400 that names it and what the model declares, as Triton answers; it once scored as 200.
func TestUnknownInputName(t *testing.T) {
	f := newFixture(t, nil)
	row := strings.Replace(string(servingtest.Body(f.rows(0, 1), features)), `"name":"input"`, `"name":"bogus"`, 1)
	resp, body := f.post(t, "/v2/models/fraud/infer", []byte(row), nil)
	var er ErrorResponse
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &er) != nil {
		t.Fatalf("POST %s = %d %s, want 400 with {\"error\": ...}", row, resp.StatusCode, body)
	}
	for _, want := range []string{`"bogus"`, `"input"`, "f00"} {
		if !strings.Contains(er.Error, want) {
			t.Errorf("error %q does not name %s", er.Error, want)
		}
	}
}

// TestBadInput: every malformed request is a 4xx with a protocol error body, never a 5xx.
func TestBadInput(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	row := servingtest.Body(f.rows(0, 1), features)
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		code             int
	}{
		{"malformed JSON", "/v2/models/fraud/infer", `{"inputs":`, nil, 400},
		{"wrong shape", "/v2/models/fraud/infer", `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}`, nil, 400},
		{"wrong datatype", "/v2/models/fraud/infer", strings.Replace(string(row), "FP64", "BYTES", 1), nil, 400},
		{"non-finite", "/v2/models/fraud/infer", `{"inputs":[{"name":"input","shape":[1,8],"datatype":"FP32","data":[1e39,0,0,0,0,0,0,0]}]}`, nil, 400},
		{"too large", "/v2/models/fraud/infer", `{"inputs":[{"name":"input","shape":[1,8],"datatype":"FP64","data":[` + strings.Repeat("0,", 5000) + `0]}]}`, nil, 413},
		{"unknown model", "/v2/models/nope/infer", string(row), nil, 404},
		{"unknown version", "/v2/models/fraud/versions/7/infer", string(row), nil, 404},
		{"bad version", "/v2/models/fraud/versions/x/infer", string(row), nil, 404},
		{"bad timeout header", "/v2/models/fraud/infer", string(row), map[string]string{HeaderTimeout: "soon"}, 400},
		{"GET infer", "", "", nil, 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				resp *http.Response
				body []byte
			)
			if tc.path == "" {
				resp, body = f.get(t, "/v2/models/fraud/infer", nil)
			} else {
				resp, body = f.post(t, tc.path, []byte(tc.body), tc.hdr)
			}
			var er ErrorResponse
			if resp.StatusCode != tc.code || json.Unmarshal(body, &er) != nil || er.Error == "" {
				t.Errorf("%s: status %d body %s, want %d with {\"error\": ...}", tc.name, resp.StatusCode, body, tc.code)
			}
		})
	}
}
