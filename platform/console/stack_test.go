package console

import (
	"context"
	"encoding/json"
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
	"github.com/casebook-ml/casebook/platform/registry/natskv"
)

// newNATSServerFixture serves a console the way `mlp console --nats URL` does, against the
// package's NATS container: the registry and the event log come from OpenStores, the
// command's own wiring. It seeds 3 models × 3 versions named prefix-000…, v1 champion, in
// the server's KV and Object Store, and prefix-000's prediction log, outcomes and alerts on
// the server's streams. It returns the fixture and the server's URL. Each test uses its
// own prefix, since the container is shared.
func newNATSServerFixture(t *testing.T, prefix string) (*fixture, string) {
	t.Helper()
	natsURL := env.NATSURL(t) // skips without a Docker engine (fails under CI=true)
	ctx := context.Background()
	reg, l, closeStores, err := OpenStores(ctx, Stores{NATSURL: natsURL})
	if err != nil {
		t.Fatalf("OpenStores(%s): %v", natsURL, err)
	}
	t.Cleanup(closeStores)
	if l.URL() != natsURL {
		t.Fatalf("event log URL = %s, want the container's %s", l.URL(), natsURL)
	}
	if _, err := consoletest.Seed(ctx, reg, l, consoletest.Options{Prefix: prefix, Models: 3, Versions: 3, Predictions: 3000}); err != nil {
		t.Fatalf("seed the NATS server: %v", err)
	}
	f := serveFixture(t, reg, l, nil)
	writeLoadReport(t, f.con.cfg.ReportsDir)
	return f, natsURL
}

// writeLoadReport writes a small loadgen report, fraud-100.json, into dir.
func writeLoadReport(t *testing.T, dir string) {
	t.Helper()
	rep, _ := json.Marshal(map[string]any{"mode": "open", "target": "http://127.0.0.1:8080", "workload": "fraud", "started": time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC),
		"scheduled": 1000, "sent": 1000, "ok": 1000, "target_rate": 100, "achieved_rate": 100, "window_s": 1,
		"corrected": map[string]any{"p50_ms": 3.5, "p99_ms": 12}, "series": []map[string]any{{"start_s": 0, "completed": 100, "corrected_p50_ms": 3, "corrected_p99_ms": 9}, {"start_s": 1, "completed": 100, "corrected_p99_ms": 11}}})
	if err := os.WriteFile(filepath.Join(dir, "fraud-100.json"), rep, 0o644); err != nil {
		t.Fatal(err)
	}
}

// serverRegistry opens the registry on the NATS server over a connection of its own, so
// what it reads is what the server holds, not the console's in-process view.
func serverRegistry(t *testing.T, natsURL string) *registry.Registry {
	t.Helper()
	ctx := context.Background()
	lc := eventlog.DefaultConfig()
	lc.URL = natsURL
	l, err := eventlog.Open(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	st, err := natskv.Open(ctx, l.JetStream(), natskv.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

var driftRowRE = regexp.MustCompile(`<td>(f0\d)</td><td class="num">([0-9.]+)</td><td class="(\w+)">\w+</td><td class="num">[0-9.]+</td><td class="num">[0-9.e+-]+</td><td class="(\w+)">`)

// driftRows maps each feature of a monitoring page's drift table to its PSI, PSI verdict
// and KS verdict.
func driftRows(body string) map[string][]string {
	got := map[string][]string{}
	for _, m := range driftRowRE.FindAllStringSubmatch(body, -1) {
		got[m[1]] = m[2:]
	}
	return got
}

// TestAgainstNATSServer is issue 18's "against the compose stack": the console over a real
// NATS JetStream server (the compose stack's image, in a container) holding both the
// registry and the event log. Every page renders the seeded content, an admin promotes and
// rolls back through the confirmation forms, the server's registry and audit log record
// both, and a read-only key is refused.
func TestAgainstNATSServer(t *testing.T) {
	f, natsURL := newNATSServerFixture(t, "stack")
	ctx := context.Background()
	pages := []struct {
		path string
		want []string
	}{
		{"/models", []string{`href="/models/stack-000"`, `href="/models/stack-001"`, `href="/models/stack-002"`}},
		{"/models/stack-001", []string{"hash chain verified", `id="versions"`, "need an admin key; this one is read-only"}},
		{"/models/stack-001/versions/2", []string{"a seeded model for the console", "synthetic data", `id="metrics"`}},
		{"/models/stack-001/versions/2/card.md", []string{"stack-001", "a seeded model for the console"}},
		{"/audit", []string{"hash chain verified", "first champion", "consoletest"}},
		{"/monitoring?model=stack-000", []string{"3000 predictions logged", "drift_f00_psi", "firing", "resolved"}},
		{"/serving", []string{`id="no-serving"`}},
		{"/scenarios", []string{"test/quick"}},
		{"/loadreports", []string{`href="/loadreports/fraud-100.json"`}},
		{"/loadreports/fraud-100.json", []string{"corrected latency per window"}},
	}
	for _, p := range pages {
		code, body := f.do("GET", p.path, readKey, nil)
		if code != 200 || strings.Contains(body, `id="error"`) {
			t.Errorf("GET %s = %d, want 200:\n%s", p.path, code, excerpt(body))
			continue
		}
		for _, w := range p.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q:\n%s", p.path, w, excerpt(body))
			}
		}
	}
	// The drift table is computed from the server's prediction stream: the seed shifts f00
	// by one standard deviation in the second half, and nothing else.
	_, body := f.do("GET", "/monitoring?model=stack-000", readKey, nil)
	rows := driftRows(body)
	if g := rows["f00"]; len(g) != 3 || g[1] != "alert" || g[2] != "alert" {
		t.Errorf("drift row f00 (shifted) = %v, want PSI and KS alert", g)
	}
	if g := rows["f01"]; len(g) != 3 || g[1] != "ok" {
		t.Errorf("drift row f01 (not shifted) = %v, want PSI ok", g)
	}

	server := serverRegistry(t, natsURL)
	champion := func() int {
		t.Helper()
		v, err := server.Resolve(ctx, "stack-001", registry.Champion)
		if err != nil {
			t.Fatalf("resolve stack-001@champion on the server: %v", err)
		}
		return v.Number
	}
	lastAudit := func() registry.AuditEntry {
		t.Helper()
		a, err := server.Audit(ctx, "stack-001")
		if err != nil || len(a) == 0 {
			t.Fatalf("audit of stack-001 on the server = %d entries, %v", len(a), err)
		}
		return a[len(a)-1]
	}

	// A read-only key can neither open the confirmation nor spend an admin's token.
	if code, body := f.do("GET", "/models/stack-001/promote?version=2&alias=champion", readKey, nil); code != 403 {
		t.Errorf("read-only key opening promote = %d, want 403:\n%s", code, excerpt(body))
	}
	tok := f.confirmToken("/models/stack-001/promote?version=2&alias=champion", adminKey)
	if code, body := f.do("POST", "/actions", readKey, url.Values{"token": {tok}, "reason": {"not allowed"}}); code != 403 {
		t.Errorf("read-only key posting promote = %d, want 403:\n%s", code, excerpt(body))
	}
	if v := champion(); v != 1 {
		t.Fatalf("after the read-only attempts, champion on the server = v%d, want v1", v)
	}

	code, body := f.do("POST", "/actions", adminKey, url.Values{"token": {tok}, "reason": {"better holdout auc"}})
	if code != 200 || !strings.Contains(body, "v1 → v2") {
		t.Fatalf("confirmed promote = %d, want 200 with v1 → v2:\n%s", code, excerpt(body))
	}
	if v := champion(); v != 2 {
		t.Errorf("after promote, champion on the server = v%d, want v2", v)
	}
	if e := lastAudit(); e.Action != registry.ActionPromote || e.Actor != "console:ops" || e.Reason != "better holdout auc" || e.To != 2 || len(e.Gates) == 0 {
		t.Errorf("server's last audit entry = %+v, want a gated promote to v2 by console:ops with the reason", e)
	}

	tok = f.confirmToken("/models/stack-001/rollback?alias=champion", adminKey)
	code, body = f.do("POST", "/actions", adminKey, url.Values{"token": {tok}, "reason": {"paging alert"}})
	if code != 200 || !strings.Contains(body, "v2 → v1") {
		t.Fatalf("confirmed rollback = %d, want 200 with v2 → v1:\n%s", code, excerpt(body))
	}
	if v := champion(); v != 1 {
		t.Errorf("after rollback, champion on the server = v%d, want v1", v)
	}
	if e := lastAudit(); e.Action != registry.ActionRollback || e.Actor != "console:ops" || e.Reason != "paging alert" {
		t.Errorf("server's last audit entry = %+v, want a rollback by console:ops with the reason", e)
	}
	if n, err := server.VerifyAudit(ctx); err != nil {
		t.Errorf("server's audit chain after the console's moves (%d entries): %v", n, err)
	}
	if _, body := f.do("GET", "/audit", readKey, nil); !strings.Contains(body, "paging alert") || !strings.Contains(body, "hash chain verified") {
		t.Errorf("audit page after the moves lacks the rollback or the verified chain:\n%s", excerpt(body))
	}
}
