package forget_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/features/memory"
	fredis "github.com/casebook-ml/casebook/platform/features/redis"
	"github.com/casebook-ml/casebook/platform/privacy/forget"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Services{Redis: true}, &env))
}

func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	fc := regfs.DefaultConfig()
	fc.Dir = t.TempDir()
	st, err := regfs.Open(fc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSubject erases one customer from the offline store and from the online store (memory,
// then Redis): none of its rows or keys remain, the other customers' are intact, and the
// audit entry names counts and a hash of the token, never the token or a feature value.
func TestSubject(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			reg, err := featurestest.Registry()
			if err != nil {
				t.Fatal(err)
			}
			var online features.OnlineStore
			if backend == "memory" {
				online = memory.New(reg)
			} else {
				cfg := fredis.DefaultConfig()
				cfg.Addr = env.RedisAddr(t)
				cfg.Timeout = 2 * time.Second
				cfg.Prefix = "forget-" + time.Now().Format("150405.000000") + ":"
				s, err := fredis.New(cfg, reg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				online = s
			}
			ocfg := features.DefaultOfflineConfig()
			ocfg.Dir = t.TempDir()
			off, err := features.OpenOffline(ocfg, reg)
			if err != nil {
				t.Fatal(err)
			}
			const subject = "tk1_5f0e3d2c1b0a99887766554433221100"
			now := time.Now().UTC().Truncate(time.Hour)
			var rows []features.Row
			for i, e := range []string{subject, "tk1_aaaa", "tk1_bbbb"} {
				for h := 0; h < 3; h++ {
					rows = append(rows, featurestest.ProfileRow(e, now.Add(-time.Duration(24*h+i)*time.Hour), uint64(10*h+i), int64(90+h)))
				}
			}
			if err := off.Append(ctx, "profile", rows); err != nil {
				t.Fatal(err)
			}
			var newest []features.Row
			for _, r := range rows {
				if r.Time.After(now.Add(-24 * time.Hour)) {
					newest = append(newest, r)
				}
			}
			if _, err := online.Write(ctx, "profile", newest); err != nil {
				t.Fatal(err)
			}
			audit := newRegistry(t)

			res, err := forget.Subject(ctx, forget.Request{Entity: "customer", Subjects: []string{subject}, Actor: "dpo", Ticket: "GDPR-17", Model: "fraud"}, reg, off, online, audit)
			if err != nil {
				t.Fatal(err)
			}
			if res.Offline.Rows != 3 || res.Online != 1 || strings.Join(res.Views, ",") != "customer_spending,profile" {
				t.Errorf("Subject = %+v, want 3 offline rows and 1 online key, views [customer_spending profile] (both of the PII entity customer)", res)
			}
			left, err := off.Scan(ctx, "profile", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 6 {
				t.Errorf("offline rows left = %d, want 6", len(left))
			}
			for _, r := range left {
				if r.Entity == subject {
					t.Errorf("offline row of the subject remains: %v", r.Time)
				}
			}
			got, err := online.Read(ctx, features.ReadRequest{Views: []features.ViewRequest{{View: "profile", Features: []string{"age"}, Entities: []string{subject, "tk1_aaaa", "tk1_bbbb"}}}})
			if err != nil {
				t.Fatal(err)
			}
			if st := got.Views[0].Get(0, 0).Status; st != features.Missing {
				t.Errorf("online read of the subject = %v, want MISSING", st)
			}
			for e := 1; e < 3; e++ {
				if st := got.Views[0].Get(e, 0).Status; st == features.Missing {
					t.Errorf("online read of another customer = %v, want its row (PRESENT or STALE)", st)
				}
			}
			entries, err := audit.Audit(ctx, "fraud")
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("audit entries = %d, want 1", len(entries))
			}
			b, _ := json.Marshal(entries[0])
			for _, leak := range []string{subject, strings.TrimPrefix(subject, "tk1_")[:12], "tk1_aaaa", "tk1_bbbb"} {
				if strings.Contains(string(b), leak) {
					t.Errorf("audit entry contains %q: %s", leak, b)
				}
			}
			if !strings.Contains(entries[0].Reason, "sha256:"+forget.SubjectHash(subject)) || !strings.Contains(entries[0].Reason, "offline 3 rows") || entries[0].Actor != "dpo" {
				t.Errorf("audit entry = %s, want the subject's hash, the counts and the actor", b)
			}
			if _, err := audit.VerifyAudit(ctx); err != nil {
				t.Errorf("VerifyAudit = %v", err)
			}
		})
	}
}

func TestSubjectRefusesIncompleteRequests(t *testing.T) {
	reg, err := featurestest.Registry()
	if err != nil {
		t.Fatal(err)
	}
	audit := newRegistry(t)
	ok := forget.Request{Entity: "customer", Subjects: []string{"tk1_x"}, Actor: "dpo", Ticket: "T-1", Model: "fraud"}
	for name, mut := range map[string]func(*forget.Request){
		"no entity":     func(r *forget.Request) { r.Entity = "" },
		"no subject":    func(r *forget.Request) { r.Subjects = nil },
		"empty subject": func(r *forget.Request) { r.Subjects = []string{""} },
		"no actor":      func(r *forget.Request) { r.Actor = "" },
		"no ticket":     func(r *forget.Request) { r.Ticket = "" },
		"not PII":       func(r *forget.Request) { r.Entity = "terminal" },
	} {
		req := ok
		mut(&req)
		if _, err := forget.Subject(context.Background(), req, reg, nil, memory.New(reg), audit); !errors.Is(err, forget.ErrInvalid) {
			t.Errorf("%s: Subject = %v, want ErrInvalid", name, err)
		}
	}
}
