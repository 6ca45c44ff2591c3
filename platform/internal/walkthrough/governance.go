package walkthrough

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gorilla/mux"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
)

func governanceScenarios(cfg Config) scenario.Set {
	return scenario.Set{governanceExplain(cfg), governanceAccess(cfg)}
}

// httpCall sends body to the test server with key and decodes a JSON answer into out.
func httpCall(ctx context.Context, base, method, path, key string, body []byte, out any) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, string(b), err
		}
	}
	return resp.StatusCode, string(b), nil
}

func inferBody(x []float64, k int) []byte {
	b, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": serving.InputName, "datatype": "FP64", "shape": []int{len(x) / k, k}, "data": x}}})
	return b
}

func governanceExplain(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "governance/explain",
		Summary: "Per-prediction explanations through the serving API: TreeSHAP contributions plus the base value give the score infer returns; the card's global importance is their mean size.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			reg, _, done, err := openRegistry(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer done()
			ckpt, err := os.MkdirTemp("", "casebook-pipeline-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(ckpt)

			r.Step("Train boosted trees through the pipeline (20,000 synthetic transactions)")
			data := mltest.Fraudish(20_000, 8, 5)
			gates := registry.DefaultGates()
			gates.ServingSchemaHash = data.Schema.Hash()
			res, err := runPipeline(ctx, reg, fraudDefinition("fraud-explain", data.Dataset, trainGBDT, registry.Champion, gates), ckpt, nil)
			if err != nil {
				return err
			}
			v, err := reg.Resolve(ctx, "fraud", registry.Champion)
			if err != nil {
				return err
			}
			r.Say("v%d is champion, holdout AUC %.4f", res.Version, res.Metrics["holdout"][ml.MetricAUC])
			if v.Importance != nil {
				r.Say("global importance on its card (mean |contribution| over %d holdout rows, %s):", v.Importance.Rows, v.Importance.Method)
				fs := slices.Clone(v.Importance.Features)
				slices.SortFunc(fs, func(a, b registry.FeatureImportance) int { return -cmp.Compare(a.MeanAbs, b.MeanAbs) })
				for _, f := range fs[:min(4, len(fs))] {
					r.Say("  %s %.4f", f.Feature, f.MeanAbs)
				}
			}
			r.Check("the version records a global importance for every feature", v.Importance != nil && len(v.Importance.Features) == data.Schema.Len())

			r.Step("Serve it and ask for scores and explanations of the same three rows")
			const key = "gov-demo-fraud-team-key-0001"
			srv, _, err := followingServer(ctx, cfg, reg, "fraud", func(c *serving.Config) {
				c.Keys = []serving.APIKey{{Key: key, Tenant: "fraud-team", Models: []string{"fraud"}}}
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			k := data.Schema.Len()
			rows := []int{3, 40, 977}
			var x []float64
			for _, i := range rows {
				x = append(x, data.X[i*k:(i+1)*k]...)
			}
			body := inferBody(x, k)
			var ir serving.InferResponse
			if code, msg, err := httpCall(ctx, ts.URL, "POST", "/v2/models/fraud/infer", key, body, &ir); err != nil || code != 200 {
				return fmt.Errorf("infer: %d %s %v", code, msg, err)
			}
			var er serving.ExplainResponse
			if code, msg, err := httpCall(ctx, ts.URL, "POST", "/v2/models/fraud/explain", key, body, &er); err != nil || code != 200 {
				return fmt.Errorf("explain: %d %s %v", code, msg, err)
			}
			r.Say("curl -H 'Authorization: Bearer KEY' -d @rows.json %s/v2/models/fraud/explain", "http://HOST:8080")
			worstSum, worstScore := 0.0, 0.0
			for i, ex := range er.Explanations {
				sum := ex.BaseValue
				type fc struct {
					f string
					c float64
				}
				var cs []fc
				for f, c := range ex.Contributions {
					sum += c
					cs = append(cs, fc{f, c})
				}
				slices.SortFunc(cs, func(a, b fc) int { return -cmp.Compare(math.Abs(a.c), math.Abs(b.c)) })
				var top []string
				for _, c := range cs[:3] {
					top = append(top, fmt.Sprintf("%s %+.3f", c.f, c.c))
				}
				score := 1 / (1 + math.Exp(-sum))
				r.Say("row %d: base %.3f + Σ %d contributions = %.4f → σ = %.4f; infer said %.4f; largest: %s",
					rows[i], ex.BaseValue, len(ex.Contributions), sum, score, ir.Outputs[0].Data[i], strings.Join(top, ", "))
				worstSum = max(worstSum, math.Abs(sum-ex.Output))
				worstScore = max(worstScore, math.Abs(score-ir.Outputs[0].Data[i]))
			}
			r.Measure("max |base + Σ contributions − output|", worstSum, "logit")
			r.Measure("max |σ(base + Σ) − infer score|", worstScore, "probability")
			r.Check("every row's contributions and base value add up to the score infer returned (within 1e-9)",
				len(er.Explanations) == len(rows) && er.Explanations[0].Method == ml.MethodTreeSHAP && worstSum < 1e-9 && worstScore < 1e-9)

			r.Step("Bad input is the caller's problem, not the server's")
			code, msg, _ := httpCall(ctx, ts.URL, "POST", "/v2/models/fraud/explain", key, inferBody(x[:k-1], k-1), nil)
			r.Say("a row one feature short: %d %s", code, strings.TrimSpace(msg))
			noKey, _, _ := httpCall(ctx, ts.URL, "POST", "/v2/models/fraud/explain", "", body, nil)
			r.Say("no key: %d", noKey)
			r.Check("a malformed row is a 400 and a missing key a 401", code == 400 && noKey == 401)
			return nil
		},
	}
}

// adminRoutes lists the serving routes that are not health, metadata, infer or explain,
// from the router itself.
func adminRoutes(h http.Handler) ([][2]string, error) {
	tenant := map[string]bool{"/v2": true, "/v2/health/live": true, "/v2/health/ready": true, "/metrics": true}
	var out [][2]string
	err := h.(*mux.Router).Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := rt.GetPathTemplate()
		if err != nil {
			return err
		}
		if tenant[tpl] || strings.HasPrefix(tpl, "/v2/models/") {
			return nil
		}
		methods, err := rt.GetMethods()
		if err != nil {
			methods = []string{"GET"}
		}
		for _, m := range methods {
			out = append(out, [2]string{m, tpl})
		}
		return nil
	})
	return out, err
}

func governanceAccess(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "governance/access",
		Summary: "Every admin route of serving refuses a tenant key (403) and no key (401); admin actions (alias moves, load, unload, archive, key reload) need a reason and land in the audit log with the admin's tenant.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			reg, _, done, err := openRegistry(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer done()
			data := mltest.Fraudish(5_000, 6, 9)
			for i, train := range []func(context.Context, ml.Dataset) (ml.Model, error){trainLogReg, trainGBDT} {
				m, err := train(ctx, data.Dataset)
				if err != nil {
					return err
				}
				art, _ := m.MarshalBinary()
				v, _, err := reg.Register(ctx, registry.RegisterRequest{Data: art, Version: registry.Version{Model: "fraud", Family: string(m.Family()), Schema: m.Schema(),
					Metrics: map[string]ml.Metrics{"holdout": {ml.MetricAUC: 0.8}}, DataFingerprint: fmt.Sprint("access-", i), RegisteredBy: "walkthrough"}})
				if err != nil {
					return err
				}
				if i == 0 {
					if _, err := reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: v.Number, Actor: "walkthrough", Reason: "first champion", Gates: registry.DefaultGates(), Force: true}); err != nil {
						return err
					}
				}
			}
			dir, err := os.MkdirTemp("", "casebook-keys-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			keysFile := filepath.Join(dir, "keys.json")
			const (
				tenantKey = "gov-demo-tenant-all-models-01"
				adminKey  = "gov-demo-platform-admin-key-01"
				rotated   = "gov-demo-platform-admin-key-02"
			)
			writeKeys := func(admin string) error {
				b, _ := json.Marshal([]serving.APIKey{{Key: tenantKey, Tenant: "fraud-team", Models: []string{"*"}}, {Key: admin, Tenant: "platform", Models: []string{"*"}, Admin: true}})
				return os.WriteFile(keysFile, b, 0o600)
			}
			if err := writeKeys(adminKey); err != nil {
				return err
			}
			var mu sync.Mutex
			srv, _, err := followingServer(ctx, cfg, reg, "fraud", func(c *serving.Config) {
				c.Keys = []serving.APIKey{{Key: tenantKey, Tenant: "fraud-team", Models: []string{"*"}}, {Key: adminKey, Tenant: "platform", Models: []string{"*"}, Admin: true}}
				c.KeysSource = func(context.Context) ([]serving.APIKey, error) {
					mu.Lock()
					defer mu.Unlock()
					b, err := os.ReadFile(keysFile)
					if err != nil {
						return nil, err
					}
					var ks []serving.APIKey
					return ks, json.Unmarshal(b, &ks)
				}
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			h := srv.Handler()
			ts := httptest.NewServer(h)
			defer ts.Close()

			r.Step("Every admin route, found by walking the router, with no key and with a tenant key that may call every model")
			routes, err := adminRoutes(h)
			if err != nil {
				return err
			}
			refused := 0
			before, _ := reg.Audit(ctx, "")
			for _, rt := range routes {
				path := strings.NewReplacer("{name}", "fraud", "{alias}", "champion", "{version}", "2").Replace(rt[1])
				body := []byte(`{"version":2,"reason":"should not happen","force":true}`)
				none, _, err := httpCall(ctx, ts.URL, rt[0], path, "", body, nil)
				if err != nil {
					return err
				}
				ten, _, err := httpCall(ctx, ts.URL, rt[0], path, tenantKey, body, nil)
				if err != nil {
					return err
				}
				r.Say("%-6s %-52s no key %d, tenant key %d", rt[0], rt[1], none, ten)
				if none == 401 && ten == 403 {
					refused++
				}
			}
			after, _ := reg.Audit(ctx, "")
			r.Measure("admin routes", float64(len(routes)), "routes")
			r.Check("every admin route answered 401 without a key and 403 to the tenant key", refused == len(routes) && len(routes) >= 7)
			r.Check("the refused calls changed nothing and wrote no audit entry", len(after) == len(before))

			r.Step("An admin without a reason, then with one, for each action")
			code, msg, _ := httpCall(ctx, ts.URL, "POST", "/v2/casebook/models/fraud/aliases/champion/rollback", adminKey, nil, nil)
			r.Say("rollback without a reason: %d %s", code, strings.TrimSpace(msg))
			r.Check("an admin action without a reason is a 400", code == 400)
			if err := writeKeys(rotated); err != nil {
				return err
			}
			actions := []struct{ method, path, body string }{
				{"PUT", "/v2/casebook/models/fraud/aliases/champion", `{"version":2,"reason":"CHG-101 trees beat the linear model","force":true}`},
				{"POST", "/v2/casebook/models/fraud/aliases/champion/rollback", `{"reason":"CHG-102 alert rate doubled"}`},
				{"POST", "/v2/repository/models/fraud/unload", `{"reason":"CHG-103 drain before maintenance"}`},
				{"POST", "/v2/repository/models/fraud/load", `{"reason":"CHG-104 maintenance over"}`},
				{"DELETE", "/v2/casebook/models/fraud/versions/2", `{"reason":"CHG-106 retire v2: trained on a withdrawn data set"}`},
				{"POST", "/v2/casebook/keys/reload", `{"reason":"CHG-105 rotate the platform admin key"}`},
			}
			ok := 0
			for _, a := range actions {
				code, msg, err := httpCall(ctx, ts.URL, a.method, a.path, adminKey, []byte(a.body), nil)
				if err != nil {
					return err
				}
				if code == 200 {
					ok++
				} else {
					r.Say("%s %s: %d %s", a.method, a.path, code, msg)
				}
			}
			r.Check(fmt.Sprintf("the admin key did all %d", len(actions)), ok == len(actions))
			all, err := reg.Audit(ctx, "")
			if err != nil {
				return err
			}
			r.Say("the audit log's last %d entries:", len(actions))
			withWho := 0
			for _, e := range all[len(all)-len(actions):] {
				r.Say("  #%d %-14s model %-6q by %-17s %q", e.Seq, e.Action, e.Model, e.Actor, e.Reason)
				if e.Actor == "serving/platform" && strings.HasPrefix(e.Reason, "CHG-") {
					withWho++
				}
			}
			r.Check("each action is an audit entry naming the admin key's tenant (not the key) and the reason", withWho == len(actions))
			n, err := reg.VerifyAudit(ctx)
			r.Check(fmt.Sprintf("the audit chain verifies (%d entries)", n), err == nil)

			code, msg, _ = httpCall(ctx, ts.URL, "PUT", "/v2/casebook/models/fraud/aliases/champion", rotated, []byte(`{"version":2,"reason":"bring v2 back","force":true}`), nil)
			r.Say("promote the archived v2, even forced: %d %s", code, strings.TrimSpace(msg))
			r.Check("an archived version cannot be promoted again (409)", code == 409)

			r.Step("After the reload, the old admin key is unknown and the rotated one works")
			old, _, _ := httpCall(ctx, ts.URL, "POST", "/v2/repository/index", adminKey, nil, nil)
			cur, _, _ := httpCall(ctx, ts.URL, "POST", "/v2/repository/index", rotated, nil, nil)
			r.Say("old admin key: %d, rotated admin key: %d", old, cur)
			r.Check("the old admin key is refused (401) and the rotated one accepted", old == 401 && cur == 200)
			return nil
		},
	}
}
