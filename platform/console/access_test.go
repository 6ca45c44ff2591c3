package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// Console routes that are not administration. Every other route must refuse a read-only
// key (403) and no key (401): an admin route added without requireAdmin fails this test,
// and a new read route has to be listed here on purpose.
var (
	consolePublic = map[string]bool{"/": true, "/login": true, "/logout": true}
	consoleReads  = map[string]bool{
		"/models": true, "/models/{model}": true, "/models/{model}/versions/{version}": true,
		"/models/{model}/versions/{version}/card.md": true, "/audit": true, "/serving": true,
		"/monitoring": true, "/scenarios": true, "/scenarios/runs/{id}": true,
		"/scenarios/runs/{id}/events": true, "/loadreports": true, "/loadreports/{file}": true,
		"/scenarios/run": true, // runs a demo on its own throwaway state, never on this registry
	}
)

func TestEveryAdminRouteRefusesNonAdmin(t *testing.T) {
	f := newFixture(t, false, nil)
	admins := 0
	err := f.con.Handler().(*mux.Router).Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := r.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := r.GetMethods()
		if err != nil {
			methods = []string{http.MethodGet}
		}
		path := strings.NewReplacer("{model}", "m-001", "{version}", "2", "{id}", "none", "{file}", "none.json").Replace(tpl)
		for _, m := range methods {
			var form url.Values
			if m == http.MethodPost {
				form = url.Values{"token": {"forged"}, "reason": {"x"}, "name": {"test/quick"}}
			}
			if m == http.MethodGet && strings.HasSuffix(tpl, "/promote") {
				path += "?version=2&alias=champion"
			}
			if m == http.MethodGet && strings.HasSuffix(tpl, "/rollback") {
				path += "?alias=champion"
			}
			switch {
			case consolePublic[tpl]:
			case consoleReads[tpl]:
				if code, _ := f.do(m, path, "", form); code != 401 {
					t.Errorf("%s %s without a key = %d, want 401", m, tpl, code)
				}
			default:
				admins++
				if code, _ := f.do(m, path, "", form); code != 401 {
					t.Errorf("admin route %s %s without a key = %d, want 401", m, tpl, code)
				}
				if code, body := f.do(m, path, readKey, form); code != 403 || !strings.Contains(body, "read-only") {
					t.Errorf("admin route %s %s with a read-only key = %d %s, want 403", m, tpl, code, excerpt(body))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if admins < 3 {
		t.Errorf("found %d admin routes, want at least 3 (promote, rollback, actions)", admins)
	}
}
