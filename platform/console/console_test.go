package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/console/consoletest"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/registry/natskv"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

const (
	readKey  = "read-only-key-0123456789abcdef"
	adminKey = "admin-key-fedcba9876543210xyz"
	admin2   = "second-admin-key-777777777777"
)

type fixture struct {
	t   *testing.T
	srv *httptest.Server
	reg *registry.Registry
	con *Console
}

// newFixture seeds a filesystem registry (3 models × 3 versions, v1 champion) and serves a
// console over it. withLog adds an embedded event log with a prediction log.
func newFixture(t *testing.T, withLog bool, edit func(*Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	reg, err := servingtest.OpenRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var l *eventlog.Log
	if withLog {
		lc := eventlog.DefaultConfig()
		if l, err = eventlog.Open(ctx, lc); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	preds := 0
	if withLog {
		preds = 3000
	}
	if _, err := consoletest.Seed(ctx, reg, l, consoletest.Options{Prefix: "m", Models: 3, Versions: 3, Predictions: preds}); err != nil {
		t.Fatal(err)
	}
	return serveFixture(t, reg, l, edit)
}

// serveFixture serves a console over reg and l with the test keys (read-only, two admins)
// and one quick scenario.
func serveFixture(t *testing.T, reg *registry.Registry, l *eventlog.Log, edit func(*Config)) *fixture {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Registry, cfg.Log, cfg.ReportsDir = reg, l, t.TempDir()
	cfg.Keys = []serving.APIKey{{Key: readKey, Tenant: "viewers"}, {Key: adminKey, Tenant: "ops", Admin: true}, {Key: admin2, Tenant: "ops2", Admin: true}}
	cfg.Scenarios = scenario.Set{{Name: "test/quick", Summary: "says, measures and checks", Run: func(_ context.Context, r *scenario.Report) error {
		r.Step("one step")
		r.Measure("answer", 42, "units")
		r.Check("the answer is 42", true)
		return nil
	}}}
	if edit != nil {
		edit(&cfg)
	}
	con, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(con.Close)
	srv := httptest.NewServer(con.Handler())
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, reg: reg, con: con}
}

// do sends a request with key (may be empty) and returns the status and body.
func (f *fixture) do(method, path, key string, form url.Values) (int, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var tokenRE = regexp.MustCompile(`name="token" value="([0-9a-f]+)"`)

func (f *fixture) confirmToken(path, key string) string {
	f.t.Helper()
	code, body := f.do("GET", path, key, nil)
	if code != 200 {
		f.t.Fatalf("GET %s = %d, want 200:\n%s", path, code, body)
	}
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		f.t.Fatalf("GET %s: no confirmation token in the page", path)
	}
	return m[1]
}

func TestBadInputIs4xx(t *testing.T) {
	f := newFixture(t, false, nil)
	if err := os.WriteFile(filepath.Join(f.con.cfg.ReportsDir, "broken.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path, key string
		form              url.Values
		code              int
		want              string
	}{
		{"GET", "/models/nope", readKey, nil, 404, "model not found"},
		{"GET", "/models/bad%20name", readKey, nil, 400, "not a valid model name"},
		{"GET", "/models/m-000/versions/x", readKey, nil, 400, "want a positive number"},
		{"GET", "/models/m-000/versions/0", readKey, nil, 400, "want a positive number"},
		{"GET", "/models/m-000/versions/99", readKey, nil, 404, "version not found"},
		{"GET", "/models/m-000/versions/99/card.md", readKey, nil, 404, "version not found"},
		{"GET", "/models?page=abc", readKey, nil, 400, "want a positive number"},
		{"GET", "/models?page=99", readKey, nil, 404, "pages of models"},
		{"GET", "/audit?page=-1", readKey, nil, 400, "want a positive number"},
		{"GET", "/models", "", nil, 401, "needs a key"},
		{"GET", "/models", "not-a-key-at-all-000000", nil, 401, "needs a key"},
		{"GET", "/models/m-000/promote?version=2&alias=champion", "", nil, 401, "needs a key"},
		{"GET", "/models/m-000/promote?version=2&alias=champion", readKey, nil, 403, "read-only key"},
		{"GET", "/models/m-000/promote?version=x&alias=champion", adminKey, nil, 400, "want a positive number"},
		{"GET", "/models/m-000/promote?version=2&alias=no%20way", adminKey, nil, 400, "alias"},
		{"GET", "/models/m-000/promote?version=99&alias=champion", adminKey, nil, 404, "version not found"},
		{"GET", "/models/m-000/promote?version=1&alias=champion", adminKey, nil, 409, "already points"},
		{"GET", "/models/m-000/rollback?alias=canary", adminKey, nil, 404, "no alias"},
		{"GET", "/models/m-000/rollback?alias=champion", adminKey, nil, 409, "no earlier alias position"},
		{"GET", "/models/m-000/rollback?alias=champion", readKey, nil, 403, "read-only key"},
		{"POST", "/actions", adminKey, url.Values{"token": {"forged"}, "reason": {"x"}}, 403, "unknown, already used"},
		{"POST", "/actions", adminKey, url.Values{"reason": {"x"}}, 403, "unknown, already used"},
		{"POST", "/actions", adminKey, url.Values{"token": {"forged"}}, 400, "needs a reason"},
		{"POST", "/actions", readKey, url.Values{"token": {"forged"}}, 403, "read-only key"},
		{"POST", "/actions", "", url.Values{"token": {"forged"}}, 401, "needs a key"},
		{"POST", "/login", "", url.Values{"key": {"wrong-key-000000000000"}}, 401, "unknown key"},
		{"GET", "/monitoring?model=bad%20name", readKey, nil, 400, "not a valid model name"},
		{"GET", "/loadreports/notes.txt", readKey, nil, 400, "want the name of a .json file"},
		{"GET", "/loadreports/missing.json", readKey, nil, 404, "no report missing.json"},
		{"GET", "/loadreports/broken.json", readKey, nil, 422, "not JSON"},
		{"GET", "/scenarios/runs/nope", readKey, nil, 404, "no run"},
		{"POST", "/scenarios/run", readKey, url.Values{"name": {"no/such"}}, 404, "no scenario"},
		{"GET", "/no/such/page", readKey, nil, 404, "no page"},
		{"DELETE", "/models", readKey, nil, 405, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.key[:min(4, len(tt.key))], func(t *testing.T) {
			code, body := f.do(tt.method, tt.path, tt.key, tt.form)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("%s %s = %d, want %d with %q; body:\n%s", tt.method, tt.path, code, tt.code, tt.want, excerpt(body))
			}
		})
	}
}

// excerpt is the page's main part, for failure messages.
func excerpt(body string) string {
	if i := strings.Index(body, "<main>"); i >= 0 {
		body = body[i:]
	}
	return body[:min(len(body), 600)]
}

func TestPromoteAndRollbackNeedAConfirmedAdminToken(t *testing.T) {
	f := newFixture(t, false, nil)
	ctx := context.Background()
	tok := f.confirmToken("/models/m-001/promote?version=2&alias=champion", adminKey)
	// Nothing moved on the confirmation page.
	if v, _ := f.reg.Resolve(ctx, "m-001", registry.Champion); v.Number != 1 {
		t.Fatalf("after the confirmation page, champion = v%d, want v1", v.Number)
	}
	// Another admin cannot use the token.
	if code, _ := f.do("POST", "/actions", admin2, url.Values{"token": {tok}, "reason": {"not mine"}}); code != 403 {
		t.Errorf("token used by another admin = %d, want 403", code)
	}
	// The token was spent by that attempt: a fresh one is needed.
	tok = f.confirmToken("/models/m-001/promote?version=2&alias=champion", adminKey)
	code, body := f.do("POST", "/actions", adminKey, url.Values{"token": {tok}, "reason": {"better holdout auc"}})
	if code != 200 || !strings.Contains(body, "v1 → v2") {
		t.Fatalf("confirmed promote = %d, want 200 with v1 → v2:\n%s", code, excerpt(body))
	}
	if v, _ := f.reg.Resolve(ctx, "m-001", registry.Champion); v.Number != 2 {
		t.Errorf("after promote, champion = v%d, want v2", v.Number)
	}
	audit, _ := f.reg.Audit(ctx, "m-001")
	last := audit[len(audit)-1]
	if last.Action != registry.ActionPromote || last.Actor != "console:ops" || last.Reason != "better holdout auc" || len(last.Gates) == 0 {
		t.Errorf("last audit entry = %+v, want a gated promote by console:ops with the reason", last)
	}
	if code, _ := f.do("POST", "/actions", adminKey, url.Values{"token": {tok}, "reason": {"again"}}); code != 403 {
		t.Errorf("replayed token = %d, want 403", code)
	}
	tok = f.confirmToken("/models/m-001/rollback?alias=champion", adminKey)
	if code, body := f.do("POST", "/actions", adminKey, url.Values{"token": {tok}}); code != 400 || !strings.Contains(body, "needs a reason") {
		t.Errorf("rollback without a reason = %d, want 400 asking for one:\n%s", code, excerpt(body))
	}
	if code, body := f.do("POST", "/actions", adminKey, url.Values{"token": {tok}, "reason": {"paging alert"}}); code != 200 || !strings.Contains(body, "v2 → v1") {
		t.Fatalf("confirmed rollback = %d, want 200 with v2 → v1:\n%s", code, excerpt(body))
	}
	if v, _ := f.reg.Resolve(ctx, "m-001", registry.Champion); v.Number != 1 {
		t.Errorf("after rollback, champion = v%d, want v1", v.Number)
	}
	if n, err := f.reg.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain after the console's moves (%d entries): %v", n, err)
	}
}

func TestGatesRefuseAWorseVersion(t *testing.T) {
	f := newFixture(t, false, nil)
	ctx := context.Background()
	tok := f.confirmToken("/models/m-002/promote?version=3&alias=champion", adminKey)
	if code, _ := f.do("POST", "/actions", adminKey, url.Values{"token": {tok}, "reason": {"test"}}); code != 200 {
		t.Fatalf("promote v3 = %d, want 200", code)
	}
	// v2's holdout AUC is below v3's: the gate refuses and the page says so with 409.
	code, body := f.do("GET", "/models/m-002/promote?version=2&alias=champion", adminKey, nil)
	if code != 200 || !strings.Contains(body, "A gate fails") {
		t.Fatalf("confirmation of a worse version = %d, want 200 warning that a gate fails:\n%s", code, excerpt(body))
	}
	tok = tokenRE.FindStringSubmatch(body)[1]
	if code, body := f.do("POST", "/actions", adminKey, url.Values{"token": {tok}, "reason": {"test"}}); code != 409 || !strings.Contains(body, "gates refused") {
		t.Errorf("promote of a worse version = %d, want 409 naming the gates:\n%s", code, excerpt(body))
	}
	if v, _ := f.reg.Resolve(ctx, "m-002", registry.Champion); v.Number != 3 {
		t.Errorf("after a refused promote, champion = v%d, want v3", v.Number)
	}
}

func TestLoginSessionAndNoKeyRendered(t *testing.T) {
	f := newFixture(t, true, nil)
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	resp, err := cl.PostForm(f.srv.URL+"/login", url.Values{"key": {adminKey}, "next": {"/audit"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/audit" {
		t.Fatalf("login = %d at %s, want 200 at /audit", resp.StatusCode, resp.Request.URL.Path)
	}
	u, _ := url.Parse(f.srv.URL)
	var session string
	for _, c := range jar.Cookies(u) {
		if c.Name == sessionCookie {
			session = c.Value
		}
	}
	if session == "" || session == adminKey {
		t.Fatalf("session cookie = %q, want a token that is not the key", session)
	}
	pages := []string{"/models", "/models/m-000", "/models/m-000/versions/1", "/models/m-000/versions/1/card.md", "/audit", "/serving",
		"/monitoring", "/monitoring?model=m-000", "/scenarios", "/loadreports", "/login", "/models/m-000/promote?version=2&alias=champion",
		"/models/nope", "/models/m-000/rollback?alias=champion"}
	for _, p := range pages {
		resp, err := cl.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, secret := range []string{adminKey, readKey, admin2, session} {
			if strings.Contains(string(b), secret) {
				t.Errorf("GET %s (%d) renders a secret %q…", p, resp.StatusCode, secret[:6])
			}
		}
	}
	for _, p := range []string{"/models", "/audit"} {
		if code, body := f.do("GET", p, readKey, nil); code != 200 || strings.Contains(body, readKey) {
			t.Errorf("GET %s with the read-only key = %d (key rendered: %v), want 200 without it", p, code, strings.Contains(body, readKey))
		}
	}
}

func TestOpenReadStillGuardsAdmin(t *testing.T) {
	f := newFixture(t, false, func(c *Config) { c.OpenRead = true })
	if code, _ := f.do("GET", "/models/m-000", "", nil); code != 200 {
		t.Errorf("open read of a model page = %d, want 200", code)
	}
	if code, _ := f.do("GET", "/models/m-000/promote?version=2&alias=champion", "", nil); code != 401 {
		t.Errorf("open read, promote without a key = %d, want 401", code)
	}
}

func TestConfigValidate(t *testing.T) {
	reg, err := servingtest.OpenRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ok := DefaultConfig()
	ok.Registry, ok.OpenRead = reg, true
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"open read", func(*Config) {}, true},
		{"no registry", func(c *Config) { c.Registry = nil }, false},
		{"nobody may read", func(c *Config) { c.OpenRead = false }, false},
		{"short key", func(c *Config) { c.Keys = []serving.APIKey{{Key: "short", Tenant: "x"}} }, false},
		{"zero page size", func(c *Config) { c.PageSize = 0 }, false},
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestTamperedAuditIsShown(t *testing.T) {
	f := newFixture(t, false, nil)
	st, ok := f.reg.Store().(*regfs.Store)
	if !ok {
		t.Fatalf("store is %T, want the filesystem store", f.reg.Store())
	}
	path := st.AuditPath(2)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), `"actor":"consoletest"`, `"actor":"mallory"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/models/m-000", "/audit"} {
		code, body := f.do("GET", p, readKey, nil)
		if code != 200 || !strings.Contains(body, "hash chain broken") || !strings.Contains(body, "entry 2") {
			t.Errorf("GET %s after tampering = %d, want the broken chain at entry 2:\n%s", p, code, excerpt(body))
		}
	}
}

// TestOverNATSRegistry serves the pages over the registry the compose stack uses (NATS KV
// and Object Store), here on the embedded server.
func TestOverNATSRegistry(t *testing.T) {
	ctx := context.Background()
	l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := natskv.Open(ctx, l.JetStream(), natskv.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consoletest.Seed(ctx, reg, l, consoletest.Options{Prefix: "kv", Models: 2, Versions: 2, Predictions: 500}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Registry, cfg.Log, cfg.OpenRead, cfg.Reference = reg, l, true, 100
	con, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	f := &fixture{t: t, srv: srv, reg: reg, con: con}
	for _, p := range []string{"/models", "/models/kv-001", "/models/kv-001/versions/2", "/audit", "/monitoring?model=kv-000"} {
		if code, body := f.do("GET", p, "", nil); code != 200 || strings.Contains(body, `id="error"`) {
			t.Errorf("GET %s over the NATS registry = %d:\n%s", p, code, excerpt(body))
		}
	}
	if _, body := f.do("GET", "/models/kv-001", "", nil); !strings.Contains(body, "hash chain verified") {
		t.Errorf("model page over NATS lacks the verified chain:\n%s", excerpt(body))
	}
}

func TestCrossSitePostIsRefused(t *testing.T) {
	f := newFixture(t, false, nil)
	for _, tt := range []struct {
		origin string
		code   int
	}{{"https://evil.example", 403}, {f.srv.URL, 303}} {
		req, _ := http.NewRequest("POST", f.srv.URL+"/scenarios/run", strings.NewReader("name=test/quick"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", tt.origin)
		req.Header.Set("X-API-Key", readKey)
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("POST /scenarios/run from %s = %d, want %d", tt.origin, resp.StatusCode, tt.code)
		}
	}
}

func TestSessionsAndTokensExpire(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, false, func(c *Config) { c.Now = func() time.Time { return now } })
	tok := f.confirmToken("/models/m-001/promote?version=2&alias=champion", adminKey)
	now = now.Add(f.con.cfg.TokenTTL + time.Second)
	if code, _ := f.do("POST", "/actions", adminKey, url.Values{"token": {tok}, "reason": {"test"}}); code != 403 {
		t.Errorf("expired confirmation = %d, want 403", code)
	}
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	resp, err := cl.PostForm(f.srv.URL+"/login", url.Values{"key": {readKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login = %d", resp.StatusCode)
	}
	now = now.Add(sessionTTL + time.Second)
	resp, err = cl.Get(f.srv.URL + "/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("page after the session expired = %d, want 401", resp.StatusCode)
	}
}

func TestEmptyRegistry(t *testing.T) {
	reg, err := servingtest.OpenRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Registry, cfg.OpenRead, cfg.ReportsDir = reg, true, filepath.Join(t.TempDir(), "absent")
	con, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	f := &fixture{t: t, srv: srv, reg: reg, con: con}
	for _, tt := range []struct{ path, want string }{
		{"/models", "holds no model yet"}, {"/audit", "no entries"}, {"/monitoring", "choose a model"},
		{"/monitoring?model=x", "without an event log"}, {"/loadreports", "no JSON report"}, {"/scenarios", "no scenarios"},
	} {
		if code, body := f.do("GET", tt.path, "", nil); code != 200 || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s on an empty registry = %d, want 200 with %q:\n%s", tt.path, code, tt.want, excerpt(body))
		}
	}
}
