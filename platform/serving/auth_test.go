package serving

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

func TestAuth(t *testing.T) {
	const (
		fraudKey = "key-fraud-team-0123456789"
		adsKey   = "key-ads-team-abcdefghijkl"
		adminKey = "key-platform-admin-zyxwvut"
	)
	f := newFixture(t, func(c *Config) {
		c.Keys = []APIKey{
			{Key: fraudKey, Tenant: "fraud-team", Models: []string{"fraud*"}},
			{Key: adsKey, Tenant: "ads-team", Models: []string{"ads-ctr"}},
			{Key: adminKey, Tenant: "platform", Models: []string{"*"}, Admin: true},
		}
	})
	row := servingtest.Body(f.rows(0, 1), features)
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		code   int
	}{
		{"no key", "POST", "/v2/models/fraud/infer", nil, 401},
		{"unknown key", "POST", "/v2/models/fraud/infer", map[string]string{"Authorization": "Bearer not-a-key-at-all-123"}, 401},
		{"other tenant's model", "POST", "/v2/models/fraud/infer", map[string]string{"X-API-Key": adsKey}, 403},
		{"own model (bearer)", "POST", "/v2/models/fraud/infer", map[string]string{"Authorization": "Bearer " + fraudKey}, 200},
		{"own model (X-API-Key)", "POST", "/v2/models/fraud/infer", map[string]string{"X-API-Key": fraudKey}, 200},
		{"metadata needs a key", "GET", "/v2/models/fraud", nil, 401},
		{"health is open", "GET", "/v2/health/live", nil, 200},
		{"non-admin moves alias", "PUT", "/v2/casebook/models/fraud/aliases/champion", map[string]string{"X-API-Key": fraudKey}, 403},
		{"non-admin unloads", "POST", "/v2/repository/models/fraud/unload", map[string]string{"X-API-Key": fraudKey}, 403},
		{"admin index", "POST", "/v2/repository/index", map[string]string{"X-API-Key": adminKey}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			var body []byte
			if tc.method == "GET" {
				resp, body = f.get(t, tc.path, tc.hdr)
			} else {
				req, _ := http.NewRequest(tc.method, f.ts.URL+tc.path, strings.NewReader(string(row)))
				for k, v := range tc.hdr {
					req.Header.Set(k, v)
				}
				var err error
				if resp, err = f.ts.Client().Do(req); err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			if resp.StatusCode != tc.code {
				t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.code)
			}
		})
	}
	if got := testutil.ToFloat64(f.srv.met.authFailures.WithLabelValues("401")); got != 3 {
		t.Errorf("auth failures (401) = %v, want 3", got)
	}
	if got := testutil.ToFloat64(f.srv.met.authFailures.WithLabelValues("403")); got != 3 {
		t.Errorf("auth failures (403) = %v, want 3", got)
	}
	// An admin moves the alias through the API; keys never reach the logs.
	req, _ := http.NewRequest("PUT", f.ts.URL+"/v2/casebook/models/fraud/aliases/champion", strings.NewReader(`{"version":2,"reason":"test","force":true}`))
	req.Header.Set("X-API-Key", adminKey)
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("admin alias move = %d, want 200", resp.StatusCode)
	}
	for _, k := range []string{fraudKey, adsKey, adminKey, "not-a-key-at-all-123"} {
		if strings.Contains(f.logs.String(), k) {
			t.Errorf("logs contain an API key %q", k)
		}
	}
}
