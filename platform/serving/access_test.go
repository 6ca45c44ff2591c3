package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/mux"

	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

const (
	accessTenantKey = "key-tenant-all-models-0123"
	accessAdminKey  = "key-platform-admin-987654"
)

// Routes that are not administration. Every other route the router holds is an admin
// route: the test below requires it to refuse a non-admin key (403) and no key (401), so
// adding an admin route without the admin check fails it, and adding a tenant route means
// adding it here, on purpose.
var (
	publicRoutes = map[string]bool{"/v2": true, "/v2/health/live": true, "/v2/health/ready": true, "/metrics": true}
	tenantRoutes = map[string]bool{
		"/v2/models/{name}": true, "/v2/models/{name}/versions/{version}": true,
		"/v2/models/{name}/ready": true, "/v2/models/{name}/versions/{version}/ready": true,
		"/v2/models/{name}/infer": true, "/v2/models/{name}/versions/{version}/infer": true,
		"/v2/models/{name}/explain": true, "/v2/models/{name}/versions/{version}/explain": true,
	}
	// adminReads are admin routes that change nothing, so they need no reason.
	adminReads = map[string]bool{"/v2/repository/index": true}
)

type route struct{ method, template, path string }

func routesOf(t *testing.T, h http.Handler) []route {
	t.Helper()
	var out []route
	err := h.(*mux.Router).Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := r.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := r.GetMethods()
		if err != nil {
			methods = []string{http.MethodGet}
		}
		path := strings.NewReplacer("{name}", "fraud", "{version}", "1", "{alias}", "champion").Replace(tpl)
		for _, m := range methods {
			out = append(out, route{m, tpl, path})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func accessFixture(t *testing.T, source func(context.Context) ([]APIKey, error)) *fixture {
	return newFixture(t, func(c *Config) {
		c.Keys = []APIKey{
			{Key: accessTenantKey, Tenant: "fraud-team", Models: []string{"*"}},
			{Key: accessAdminKey, Tenant: "platform", Models: []string{"*"}, Admin: true},
		}
		c.KeysSource = source
	})
}

func do(t *testing.T, f *fixture, method, path, key string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestAdminRoutesRefuseNonAdmin walks every route of the router. Admin routes answer 401
// without a key and 403 to a key that may call every model but is not an admin key, and
// nothing reaches the audit log; an admin key without a reason is a 400 (except the
// read-only index). Tenant routes answer 401 without a key and not 401/403 with one.
func TestAdminRoutesRefuseNonAdmin(t *testing.T) {
	f := accessFixture(t, func(context.Context) ([]APIKey, error) { return nil, errors.New("not called") })
	ctx := context.Background()
	before, err := f.reg.Audit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	row := servingtest.Body(f.rows(0, 1), features)
	admins := 0
	for _, rt := range routesOf(t, f.srv.Handler()) {
		name := rt.method + " " + rt.template
		switch {
		case publicRoutes[rt.template]:
			if code, body := do(t, f, rt.method, rt.path, "", nil); code == 401 || code == 403 {
				t.Errorf("%s without a key = %d %s, want a public answer", name, code, body)
			}
		case tenantRoutes[rt.template]:
			if code, _ := do(t, f, rt.method, rt.path, "", row); code != 401 {
				t.Errorf("%s without a key = %d, want 401", name, code)
			}
			if code, body := do(t, f, rt.method, rt.path, accessTenantKey, row); code == 401 || code == 403 {
				t.Errorf("%s with a tenant key = %d %.200s, want it allowed", name, code, body)
			}
		default:
			admins++
			body := []byte(`{"version":1,"reason":"should be refused","force":true}`)
			if code, _ := do(t, f, rt.method, rt.path, "", body); code != 401 {
				t.Errorf("admin route %s without a key = %d, want 401", name, code)
			}
			if code, resp := do(t, f, rt.method, rt.path, accessTenantKey, body); code != 403 {
				t.Errorf("admin route %s with a non-admin key = %d %.200s, want 403", name, code, resp)
			}
			if !adminReads[rt.template] {
				if code, resp := do(t, f, rt.method, rt.path, accessAdminKey, []byte(`{"version":1}`)); code != 400 || !strings.Contains(resp, "reason") {
					t.Errorf("admin route %s with an admin key but no reason = %d %.200s, want 400 asking for a reason", name, code, resp)
				}
			}
		}
	}
	if admins < 7 {
		t.Errorf("found %d admin routes, want at least 7 (index, load, unload, alias move, rollback, archive, key reload)", admins)
	}
	after, err := f.reg.Audit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("refused admin calls wrote %d audit entries, want none", len(after)-len(before))
	}
}

// TestAdminActionsAudited: each admin action through the API appends an audit entry naming
// the admin key's tenant (never the key) and the reason given.
func TestAdminActionsAudited(t *testing.T) {
	var mu sync.Mutex
	next := []APIKey{
		{Key: "key-rotated-tenant-000000", Tenant: "fraud-team", Models: []string{"fraud"}},
		{Key: "key-rotated-admin-1111111", Tenant: "platform", Models: []string{"*"}, Admin: true},
	}
	f := accessFixture(t, func(context.Context) ([]APIKey, error) {
		mu.Lock()
		defer mu.Unlock()
		return next, nil
	})
	ctx := context.Background()
	steps := []struct {
		method, path, body, action, reason string
	}{
		{"PUT", "/v2/casebook/models/fraud/aliases/champion", `{"version":2,"reason":"CHG-1 move","force":true}`, registry.ActionForcePromote, "CHG-1 move"},
		{"POST", "/v2/casebook/models/fraud/aliases/champion/rollback", `{"reason":"CHG-2 back"}`, registry.ActionRollback, "CHG-2 back"},
		{"POST", "/v2/repository/models/fraud/unload", `{"reason":"CHG-3 drain"}`, registry.ActionServeUnload, "CHG-3 drain"},
		{"POST", "/v2/repository/models/fraud/load", `{"reason":"CHG-4 restore"}`, registry.ActionServeLoad, "CHG-4 restore"},
		{"DELETE", "/v2/casebook/models/fraud/versions/2", `{"reason":"CHG-6 retire v2"}`, registry.ActionArchive, "CHG-6 retire v2"},
		{"POST", "/v2/casebook/keys/reload", `{"reason":"CHG-5 rotate"}`, registry.ActionKeysReload, "CHG-5 rotate (2 keys, 1 admin, 2 tenants)"},
	}
	for _, st := range steps {
		n0, _ := f.reg.Audit(ctx, "")
		if code, body := do(t, f, st.method, st.path, accessAdminKey, []byte(st.body)); code != 200 {
			t.Fatalf("%s %s = %d %s, want 200", st.method, st.path, code, body)
		}
		all, _ := f.reg.Audit(ctx, "")
		if len(all) != len(n0)+1 {
			t.Fatalf("%s %s wrote %d audit entries, want 1", st.method, st.path, len(all)-len(n0))
		}
		e := all[len(all)-1]
		if e.Action != st.action || e.Actor != "serving/platform" || e.Reason != st.reason {
			t.Errorf("%s %s audited as %s by %q for %q; want %s by serving/platform for %q", st.method, st.path, e.Action, e.Actor, e.Reason, st.action, st.reason)
		}
		for _, k := range []string{accessAdminKey, accessTenantKey} {
			if b, _ := json.Marshal(e); strings.Contains(string(b), k) {
				t.Errorf("audit entry %d contains an API key", e.Seq)
			}
		}
	}
	if _, err := f.reg.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit after the admin actions: %v", err)
	}
	// An archived version cannot be promoted again; a version an alias holds cannot be archived.
	if code, body := do(t, f, "PUT", "/v2/casebook/models/fraud/aliases/champion", "key-rotated-admin-1111111", []byte(`{"version":2,"reason":"back","force":true}`)); code != 409 || !strings.Contains(body, "archived") {
		t.Errorf("promote of the archived v2 = %d %s, want 409", code, body)
	}
	if code, body := do(t, f, "DELETE", "/v2/casebook/models/fraud/versions/1", "key-rotated-admin-1111111", []byte(`{"reason":"x"}`)); code != 409 || !strings.Contains(body, "alias still points") {
		t.Errorf("archive of the champion = %d %s, want 409", code, body)
	}
	// The reload swapped the keys: the old admin key is unknown now, the rotated one works.
	if code, _ := do(t, f, "POST", "/v2/repository/index", accessAdminKey, nil); code != 401 {
		t.Errorf("old admin key after the reload = %d, want 401", code)
	}
	if code, _ := do(t, f, "POST", "/v2/repository/index", "key-rotated-admin-1111111", nil); code != 200 {
		t.Errorf("rotated admin key = %d, want 200", code)
	}
	// A key file that would turn authentication off, or lock admins out, is refused and the
	// keys in force stay.
	for _, bad := range [][]APIKey{nil, {{Key: "key-only-a-tenant-22222", Tenant: "t", Models: []string{"*"}}}} {
		mu.Lock()
		next = bad
		mu.Unlock()
		if code, body := do(t, f, "POST", "/v2/casebook/keys/reload", "key-rotated-admin-1111111", []byte(`{"reason":"bad"}`)); code != http.StatusUnprocessableEntity {
			t.Errorf("reload of %d keys = %d %s, want 422", len(bad), code, body)
		}
	}
	if code, _ := do(t, f, "POST", "/v2/repository/index", "key-rotated-admin-1111111", nil); code != 200 {
		t.Errorf("admin key after refused reloads = %d, want 200", code)
	}
}
