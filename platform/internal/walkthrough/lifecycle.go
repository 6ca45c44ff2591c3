package walkthrough

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/pipeline"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/registry/natskv"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
)

// lifecycleScenarios are the scenarios of walkthrough 1.6 (model lifecycle) and the
// registry part of 1.1. They run on the local default, a filesystem registry in a
// temporary directory, or on NATS KV + Object Store when Config.NATSURL is set.
func lifecycleScenarios(cfg Config) scenario.Set {
	return scenario.Set{lifecycle(cfg), gatesAndAudit(cfg), corruptArtifact(cfg), schemaBinding(cfg), pipelineResume(cfg)}
}

var weeks0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// damager reaches around the registry to break it the way disks and people do.
type damager interface {
	overwriteAudit(ctx context.Context, e registry.AuditEntry) error
	corruptArtifact(ctx context.Context, sum string) error
	removeArtifact(ctx context.Context, sum string) error
}

type fsDamager struct{ st *regfs.Store }

func (d fsDamager) overwriteAudit(_ context.Context, e registry.AuditEntry) error {
	return d.st.OverwriteAudit(e)
}

func (d fsDamager) corruptArtifact(_ context.Context, sum string) error {
	b, err := os.ReadFile(d.st.ArtifactPath(sum))
	if err != nil {
		return err
	}
	b[len(b)/2] ^= 0x01
	return os.WriteFile(d.st.ArtifactPath(sum), b, 0o644)
}

func (d fsDamager) removeArtifact(_ context.Context, sum string) error {
	return os.Remove(d.st.ArtifactPath(sum))
}

type natsDamager struct{ st *natskv.Store }

func (d natsDamager) overwriteAudit(ctx context.Context, e registry.AuditEntry) error {
	return d.st.OverwriteAudit(ctx, e)
}

func (d natsDamager) corruptArtifact(ctx context.Context, sum string) error {
	b, err := d.st.GetArtifact(ctx, sum)
	if err != nil {
		return err
	}
	b[len(b)/2] ^= 0x01
	return d.st.ReplaceArtifact(ctx, sum, b)
}

func (d natsDamager) removeArtifact(ctx context.Context, sum string) error {
	return d.st.DeleteArtifact(ctx, sum)
}

// openRegistry makes an empty registry for one run: a filesystem store in a fresh
// temporary directory (the local default), or, when the scenarios run on a NATS server,
// fresh KV and Object Store buckets there, removed afterwards.
func openRegistry(ctx context.Context, cfg Config, r *scenario.Report) (*registry.Registry, damager, func(), error) {
	rc := registry.DefaultConfig()
	rc.Logger = cfg.Logger
	if cfg.NATSURL != "" {
		l, err := openLog(ctx, cfg, r)
		if err != nil {
			return nil, nil, nil, err
		}
		nc := natskv.DefaultConfig()
		suffix := fmt.Sprint(time.Now().UnixNano())
		nc.KVBucket, nc.ObjectBucket, nc.Logger = "casebook_demo_registry_"+suffix, "casebook_demo_artifacts_"+suffix, cfg.Logger
		st, err := natskv.Open(ctx, l.JetStream(), nc)
		if err != nil {
			l.Close()
			return nil, nil, nil, err
		}
		reg, err := registry.New(st, rc)
		if err != nil {
			l.Close()
			return nil, nil, nil, err
		}
		r.Say("registry: NATS KV bucket %s and Object Store bucket %s", nc.KVBucket, nc.ObjectBucket)
		cleanup := func() {
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = l.JetStream().DeleteKeyValue(dctx, nc.KVBucket)
			_ = l.JetStream().DeleteObjectStore(dctx, nc.ObjectBucket)
			l.Close()
		}
		return reg, natsDamager{st}, cleanup, nil
	}
	dir, err := os.MkdirTemp("", "casebook-registry-*")
	if err != nil {
		return nil, nil, nil, err
	}
	fc := regfs.DefaultConfig()
	fc.Dir, fc.Logger, fc.PollInterval = dir, cfg.Logger, 50*time.Millisecond
	st, err := regfs.Open(fc)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	reg, err := registry.New(st, rc)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	r.Say("registry: the filesystem store (the local default) in %s", dir)
	return reg, fsDamager{st}, func() { os.RemoveAll(dir) }, nil
}

// fraudDefinition is a pipeline over weeks of synthetic transactions with a known
// non-linear fraud model. Alias "" registers without moving anything.
func fraudDefinition(name string, data ml.Dataset, train func(context.Context, ml.Dataset) (ml.Model, error), alias string, gates registry.Gates) pipeline.Definition {
	return pipeline.Definition{
		Name: name, Model: "fraud", Source: pipeline.NewMemorySource(data, weeks0, weeks0.AddDate(0, 0, 28)), Train: train,
		HoldoutFraction: 0.2, SplitSeed: 1, LatencySamples: 3000, Gates: gates, Alias: alias, Actor: "pipeline/" + name,
		CodeVersion: "walkthrough 1.6", IntendedUse: "Ranking card transactions for fraud review (Casebook walkthrough).",
		KnownLimits: []string{"synthetic data from a known generator", "labels assumed final"},
	}
}

func trainLogReg(ctx context.Context, d ml.Dataset) (ml.Model, error) {
	return ml.TrainLogReg(ctx, d, ml.DefaultLogRegConfig())
}

func trainGBDT(ctx context.Context, d ml.Dataset) (ml.Model, error) {
	return ml.TrainGBDT(ctx, d, ml.DefaultGBDTConfig())
}

func runPipeline(ctx context.Context, reg *registry.Registry, def pipeline.Definition, ckpt string, after func(string) error) (pipeline.Result, error) {
	pc := pipeline.DefaultConfig()
	pc.CheckpointDir, pc.AfterStep = ckpt, after
	p, err := pipeline.New(def, reg, pc)
	if err != nil {
		return pipeline.Result{}, err
	}
	return p.Run(ctx, pipeline.Trigger{Kind: pipeline.OnDemand, Reason: "walkthrough", At: time.Now().UTC()})
}

func sayGates(r *scenario.Report, gates []registry.GateResult) {
	for _, g := range gates {
		mark := "passed "
		switch {
		case g.Skipped:
			mark = "skipped"
		case !g.Passed:
			mark = "FAILED "
		}
		r.Say("gate %-22s %s %s", g.Gate, mark, g.Detail)
	}
}

func lifecycle(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "registry/lifecycle",
		Summary: "Train → evaluate → register → gate → shadow → rollout: a boosted-tree challenger replaces a logistic-regression champion, and serving hears of it through a watch.",
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
			data := mltest.Fraudish(60_000, 15, 1)
			serving := data.Schema.Hash()
			gates := registry.DefaultGates()
			gates.MinImprovement, gates.ServingSchemaHash = 0.01, serving

			r.Step("Train the first model, a logistic regression, and make it champion")
			r.Say("Four weeks of transactions: 60,000 rows, 15 features, about 10%% fraud, drawn from a known non-linear model.")
			v1, err := runPipeline(ctx, reg, fraudDefinition("fraud-linear", data.Dataset, trainLogReg, registry.Champion, gates), ckpt, nil)
			if err != nil {
				return err
			}
			r.Measure("v1 holdout AUC", v1.Metrics["holdout"][ml.MetricAUC], "")
			r.Measure("v1 holdout log loss", v1.Metrics["holdout"][ml.MetricLogLoss], "")
			sayGates(r, v1.Gates)
			r.Check("v1 registered and moved to champion (no holder to beat)", v1.Created && v1.Version == 1 && v1.Moved)

			r.Step("Serving watches the registry's aliases")
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			events, err := reg.Watch(wctx)
			if err != nil {
				return err
			}
			first := <-events
			r.Say("the watch starts with the current position: %s@%s = v%d", first.Model, first.Alias, first.Version)

			r.Step("Train a boosted-tree challenger on the same data and register it without moving any alias")
			v2, err := runPipeline(ctx, reg, fraudDefinition("fraud-gbdt", data.Dataset, trainGBDT, "", gates), ckpt, nil)
			if err != nil {
				return err
			}
			r.Measure("v2 holdout AUC", v2.Metrics["holdout"][ml.MetricAUC], "")
			r.Measure("v2 holdout log loss", v2.Metrics["holdout"][ml.MetricLogLoss], "")
			r.Measure("v2 predict p99", float64(v2.PredictP99.Nanoseconds())/1000, "µs")
			res, ok, err := reg.CheckGates(ctx, "fraud", registry.Champion, v2.Version, gates)
			if err != nil {
				return err
			}
			r.Say("dry run of the champion gates for v2:")
			sayGates(r, res)
			r.Check("v2 would pass the champion gates (beats v1 by ≥ 0.01 AUC, same schema as serving, p99 within 2 ms)", ok)

			r.Step("Shadow: v2 scores live traffic next to the champion; only the champion's answers are used")
			if _, err := reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Shadow, Version: v2.Version, Actor: "alice", Reason: "shadow before rollout", Gates: gates}); err != nil {
				return err
			}
			// The watch reports positions, not every write: a store that polls
			// (the filesystem one) coalesces moves made between two polls. So
			// wait until serving has seen the shadow before ending the shadow run.
			seen := awaitEvents(events, 5*time.Second, registry.AliasEvent{Model: "fraud", Alias: registry.Shadow, Version: v2.Version})
			r.Check("the watch reported the shadow alias set to v2", containsEvent(seen, registry.AliasEvent{Model: "fraud", Alias: registry.Shadow, Version: v2.Version}))
			champ, _, err := reg.Load(ctx, "fraud", registry.Champion)
			if err != nil {
				return err
			}
			shadow, _, err := reg.Load(ctx, "fraud", registry.Shadow)
			if err != nil {
				return err
			}
			live := mltest.Fraudish(20_000, 15, 99) // week 5: traffic the models never saw
			pc, ps := make([]float64, live.Rows()), make([]float64, live.Rows())
			if err := champ.Predict(live.Batch(), pc); err != nil {
				return err
			}
			if err := shadow.Predict(live.Batch(), ps); err != nil {
				return err
			}
			ac, as := ml.AUC(live.Y, pc), ml.AUC(live.Y, ps)
			precC, recC := ml.PrecisionRecallAtK(live.Y, pc, 200)
			precS, recS := ml.PrecisionRecallAtK(live.Y, ps, 200)
			r.Measure("live AUC, champion v1", ac, "")
			r.Measure("live AUC, shadow v2", as, "")
			r.Measure("precision in the 200 riskiest (1%), champion", precC, "")
			r.Measure("precision in the 200 riskiest (1%), shadow", precS, "")
			r.Say("recall at 200: champion %.3f, shadow %.3f (labels joined once they arrive)", recC, recS)
			r.Check("on live traffic the shadow ranks fraud better than the champion", as > ac)

			r.Step("Roll out: promote v2 to champion through the gates")
			mv, err := reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: v2.Version, Actor: "alice",
				Reason: fmt.Sprintf("shadow week: live AUC %.3f vs %.3f", as, ac), Gates: gates})
			if err != nil {
				return err
			}
			sayGates(r, mv.Gates)
			if err := reg.RemoveAlias(ctx, "fraud", registry.Shadow, "alice", "shadow run over"); err != nil {
				return err
			}
			seen = awaitEvents(events, 5*time.Second,
				registry.AliasEvent{Model: "fraud", Alias: registry.Champion, Version: 2},
				registry.AliasEvent{Model: "fraud", Alias: registry.Shadow, Version: 0})
			for _, ev := range seen {
				r.Say("watch: %s@%s → v%d", ev.Model, ev.Alias, ev.Version)
			}
			r.Check("the watch reported the champion's move to v2", containsEvent(seen, registry.AliasEvent{Model: "fraud", Alias: registry.Champion, Version: 2}))
			r.Check("the watch reported the shadow alias removed", containsEvent(seen, registry.AliasEvent{Model: "fraud", Alias: registry.Shadow, Version: 0}))

			r.Step("Run the boosted-tree pipeline again on the same data")
			again, err := runPipeline(ctx, reg, fraudDefinition("fraud-gbdt", data.Dataset, trainGBDT, "", gates), ckpt, nil)
			if err != nil {
				return err
			}
			r.Say("training set fingerprint %s, artifact sha256:%s", again.Fingerprint[:12], again.Artifact[:12])
			vs, _ := reg.Versions(ctx, "fraud")
			r.Check("the rerun produced the same artifact hash and registered nothing new", !again.Created && again.Version == 2 && again.Artifact == v2.Artifact && len(vs) == 2)
			n, err := reg.VerifyAudit(ctx)
			r.Measure("audit entries", float64(n), "")
			r.Check("the audit chain verifies", err == nil)
			card, err := reg.Card(ctx, "fraud", registry.Champion)
			if err != nil {
				return err
			}
			r.Say("`mlp registry card fraud` renders the champion's card (%d lines of Markdown).", countLines(card))
			return nil
		},
	}
}

// awaitEvents reads the watch until every wanted event has arrived or the
// timeout passes, and returns what it read.
func awaitEvents(events <-chan registry.AliasEvent, timeout time.Duration, want ...registry.AliasEvent) []registry.AliasEvent {
	var seen []registry.AliasEvent
	deadline := time.After(timeout)
	for {
		missing := false
		for _, w := range want {
			if !containsEvent(seen, w) {
				missing = true
				break
			}
		}
		if !missing {
			return seen
		}
		select {
		case ev, ok := <-events:
			if !ok {
				return seen
			}
			seen = append(seen, ev)
		case <-deadline:
			return seen
		}
	}
}

func containsEvent(evs []registry.AliasEvent, want registry.AliasEvent) bool {
	for _, e := range evs {
		if e == want {
			return true
		}
	}
	return false
}

func countLines(s string) int {
	n := 0
	for _, c := range s {
		if c == '\n' {
			n++
		}
	}
	return n
}

func gatesAndAudit(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "registry/gates-and-audit",
		Summary: "Gates refuse a promotion and say by how much; a forced one needs a reason; rollback is one command; editing the audit log is detected.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			reg, dmg, done, err := openRegistry(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer done()
			ckpt, err := os.MkdirTemp("", "casebook-pipeline-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(ckpt)
			data := mltest.Fraudish(40_000, 15, 2)
			gates := registry.DefaultGates()
			gates.MinImprovement, gates.ServingSchemaHash = 0.005, data.Schema.Hash()
			gbdt, err := runPipeline(ctx, reg, fraudDefinition("fraud-gbdt", data.Dataset, trainGBDT, registry.Champion, gates), ckpt, nil)
			if err != nil {
				return err
			}
			r.Say("v%d (boosted trees, holdout AUC %.4f) is champion", gbdt.Version, gbdt.Metrics["holdout"][ml.MetricAUC])

			r.Step("A weaker model asks to become champion")
			lin, err := runPipeline(ctx, reg, fraudDefinition("fraud-linear", data.Dataset, trainLogReg, registry.Champion, gates), ckpt, nil)
			if err != nil {
				return err
			}
			sayGates(r, lin.Gates)
			r.Measure("metric gate margin", lin.Gates[0].Margin, "AUC")
			r.Check("the metric gate refused v2 and said by how much", !lin.GatesPassed && !lin.Moved && lin.Gates[0].Margin < 0)

			r.Step("A model trained on fewer features than serving provides")
			gm, _, err := reg.Load(ctx, "fraud", "1")
			if err != nil {
				return err
			}
			imp := gm.(*ml.GBDT).Importance()
			pruned, err := ml.PruneFeatures(data.Dataset, imp, 6)
			if err != nil {
				return err
			}
			pr, err := runPipeline(ctx, reg, fraudDefinition("fraud-pruned", pruned, trainGBDT, "", gates), ckpt, nil)
			if err != nil {
				return err
			}
			_, err = reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: pr.Version, Actor: "bob", Gates: gates})
			var ge *registry.GateError
			if errors.As(err, &ge) {
				sayGates(r, ge.Results)
			}
			r.Check("the schema gate refused the 6-feature model", errors.As(err, &ge) && !ge.Results[1].Passed)

			r.Step("Force it anyway: only with a reason, and the override is audited")
			_, err = reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: pr.Version, Actor: "bob", Gates: gates, Force: true})
			r.Check("a forced promotion without a reason is refused", errors.Is(err, registry.ErrForceNeedsReason))
			mv, err := reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: pr.Version, Actor: "bob", Gates: gates, Force: true,
				Reason: "CHG-1234: feature service v2 drops 9 features tonight"})
			if err != nil {
				return err
			}
			r.Say("audit entry %d: %s %s v%d → v%d by %s, forced=%v: %q", mv.Audit.Seq, mv.Audit.Action, mv.Audit.Alias, mv.Audit.From, mv.Audit.To, mv.Audit.Actor, mv.Audit.Forced, mv.Audit.Reason)
			r.Check("the forced move is in the audit log with its reason and failed gates", mv.Audit.Forced && mv.Audit.Reason != "" && len(mv.Audit.Gates) == 3)

			r.Step("Roll back")
			rb, err := reg.Rollback(ctx, "fraud", registry.Champion, "carol", "false positives doubled after the forced change")
			if err != nil {
				return err
			}
			r.Say("champion v%d → v%d", rb.Audit.From, rb.Audit.To)
			r.Check("rollback returned the champion to v1", rb.Audit.To == 1)

			r.Step("Someone edits history: the forced promotion's actor is rewritten")
			entries, err := reg.Audit(ctx, "")
			if err != nil {
				return err
			}
			n, err := reg.VerifyAudit(ctx)
			r.Check(fmt.Sprintf("before: the chain of %d entries verifies", n), err == nil)
			e := entries[mv.Audit.Seq-1]
			e.Actor = "alice"
			if err := dmg.overwriteAudit(ctx, e); err != nil {
				return err
			}
			_, err = reg.VerifyAudit(ctx)
			var te *registry.TamperError
			if errors.As(err, &te) {
				r.Say("VerifyAudit: %v", err)
			}
			r.Check(fmt.Sprintf("after: verification fails at entry %d", mv.Audit.Seq), errors.As(err, &te) && te.Seq == mv.Audit.Seq)
			r.Say("Limit: the chain shows edits, removals and reordering; cutting entries off the end is only")
			r.Say("visible to someone who kept the latest hash (publish it, e.g. in the model card or a ticket).")
			return nil
		},
	}
}

// followingServer starts a serving.Server for model@champion over reg, the way mlp serve
// does, with its metrics in their own Prometheus registry; mutate adjusts the config.
func followingServer(ctx context.Context, cfg Config, reg *registry.Registry, model string, mutate func(*serving.Config)) (*serving.Server, *prometheus.Registry, error) {
	prom := prometheus.NewRegistry()
	sc := serving.DefaultConfig()
	sc.Logger, sc.Registerer = cfg.Logger, prom
	sc.Models = []serving.ModelConfig{serving.DefaultModelConfig(model)}
	if mutate != nil {
		mutate(&sc)
	}
	srv, err := serving.New(ctx, reg, sc)
	return srv, prom, err
}

// awaitRefusal waits until the server reports that it refused the latest move of model's
// alias, or timeout passes; the wait ends on that progress, not on a clock.
func awaitRefusal(srv *serving.Server, model string, timeout time.Duration) serving.ModelStatus {
	deadline := time.Now().Add(timeout)
	for {
		st, _ := srv.Status(model)
		if st.Refused != "" || time.Now().After(deadline) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counterValue reads one counter series from a gatherer (0 if absent).
func counterValue(g prometheus.Gatherer, name string, labels map[string]string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// refusedEntries returns the model's refuse-load audit entries.
func refusedEntries(ctx context.Context, reg *registry.Registry, model string) []registry.AuditEntry {
	all, _ := reg.Audit(ctx, model)
	var out []registry.AuditEntry
	for _, e := range all {
		if e.Action == registry.ActionRefuseLoad {
			out = append(out, e)
		}
	}
	return out
}

// answersWith scores rows through the server in process and reports the version and path
// that answered.
func answersWith(ctx context.Context, srv *serving.Server, model string, x []float64, rows int) (serving.Result, error) {
	return srv.Infer(ctx, serving.Request{Model: model, Decoded: serving.Decoded{X: x, Rows: rows}})
}

func corruptArtifact(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "registry/corrupt-artifact",
		Summary: "An artifact whose bytes changed on disk is refused on load, and the model server following the champion keeps answering with the version it had.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			reg, dmg, done, err := openRegistry(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer done()
			ckpt, err := os.MkdirTemp("", "casebook-pipeline-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(ckpt)
			gates := registry.DefaultGates()
			gates.MinImprovement = -0.05 // a retrain on new data may score a little lower
			data := mltest.Fraudish(20_000, 15, 3)
			if _, err := runPipeline(ctx, reg, fraudDefinition("fraud-gbdt", data.Dataset, trainGBDT, registry.Champion, gates), ckpt, nil); err != nil {
				return err
			}
			r.Step("The model server follows fraud@champion (every load verifies the artifact's sha256)")
			srv, prom, err := followingServer(ctx, cfg, reg, "fraud", nil)
			if err != nil {
				return err
			}
			defer srv.Close()
			st, _ := srv.Status("fraud")
			r.Say("serving.Server: fraud primary v%d", st.Primary)

			r.Step("Next week's retrain registers v2, and one byte of its artifact file flips on disk")
			next := mltest.Fraudish(20_000, 15, 33)
			v2, err := runPipeline(ctx, reg, fraudDefinition("fraud-gbdt", next.Dataset, trainGBDT, "", gates), ckpt, nil)
			if err != nil {
				return err
			}
			if err := dmg.corruptArtifact(ctx, v2.Artifact); err != nil {
				return err
			}

			r.Step("v2 is promoted to champion; the server tries to switch")
			if _, err := reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: v2.Version, Actor: "alice", Reason: "weekly retrain", Gates: gates}); err != nil {
				return err
			}
			st = awaitRefusal(srv, "fraud", 10*time.Second)
			r.Say("server: %s", st.Refused)
			r.Check("the server refuses the switch as a corrupt artifact", strings.Contains(st.Refused, registry.ErrArtifactCorrupt.Error()))
			res, err := answersWith(ctx, srv, "fraud", data.X[:10*15], 10)
			r.Check(fmt.Sprintf("the server keeps answering with v%d from its primary path", res.Version),
				err == nil && st.Primary == 1 && res.Version == 1 && res.Path == serving.PathPrimary && res.Scores[0] > 0 && res.Scores[0] < 1)
			refused := counterValue(prom, "casebook_serving_model_refused_total", map[string]string{"model": "fraud", "reason": "artifact"})
			r.Measure("casebook_serving_model_refused_total{reason=artifact}", refused, "")
			rs := refusedEntries(ctx, reg, "fraud")
			r.Check("the refusal is counted and in the registry's audit log (v2 refused, v1 kept)",
				refused == 1 && len(rs) == 1 && rs[0].To == v2.Version && rs[0].From == 1)

			r.Step("The artifact disappears altogether")
			if err := dmg.removeArtifact(ctx, v2.Artifact); err != nil {
				return err
			}
			_, _, err = reg.Load(ctx, "fraud", registry.Champion)
			r.Say("reload: %v", err)
			r.Check("a missing artifact is a clear error, not a crash", errors.Is(err, registry.ErrArtifactNotFound))
			r.Say("The fix is operational: roll the alias back (mlp registry rollback fraud champion) or re-register the artifact.")
			return nil
		},
	}
}

// schemaBinding shows train/serve parity enforced: a model records the feature service it
// was trained on, promotion's schema gate refuses one trained on another version of it, and
// a server bound to the service refuses to load it even when the alias is forced there.
func schemaBinding(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "registry/schema-binding",
		Summary: "A model trained on another version of the feature service is refused by promotion's schema gate and, when forced, by the server, which keeps answering with the model it had.",
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
			data := mltest.Fraudish(20_000, 15, 5)
			names := data.Schema.Names()

			r.Step("The feature registry defines service fraud_tx: v1 over 15 features, v2 over the first 10")
			freg := features.NewRegistry()
			view := features.FeatureView{Name: "tx", Entity: features.Entity{Name: "transaction", JoinKey: "transaction_id"}}
			for _, n := range names {
				view.Features = append(view.Features, features.Feature{Name: n, Kind: features.KindFloat})
			}
			if err := freg.RegisterView(view); err != nil {
				return err
			}
			refs := func(ns []string) []string {
				out := make([]string, len(ns))
				for i, n := range ns {
					out[i] = "tx:" + n
				}
				return out
			}
			for v, ns := range map[int][]string{1: names, 2: names[:10]} {
				if err := freg.RegisterService(features.FeatureService{Name: "fraud_tx", Version: v, Features: refs(ns)}); err != nil {
					return err
				}
			}
			h1, _ := freg.SchemaHash("fraud_tx@1")
			h2, _ := freg.SchemaHash("fraud_tx@2")
			r.Say("fraud_tx@1 hashes to %s, fraud_tx@2 to %s", h1[:19], h2[:19])
			trainedOn := func(d ml.Dataset, service, hash string) *pipeline.MemorySource {
				src := pipeline.NewMemorySource(d, weeks0, weeks0.AddDate(0, 0, 28))
				src.Set.FeatureService, src.Set.FeatureServiceHash = service, hash
				return src
			}
			gates := registry.DefaultGates()
			gates.MinImprovement = -0.05
			def := fraudDefinition("fraud-v1", data.Dataset, trainGBDT, registry.Champion, gates)
			def.Source = trainedOn(data.Dataset, "fraud_tx@1", h1)
			v1, err := runPipeline(ctx, reg, def, ckpt, nil)
			if err != nil {
				return err
			}
			ver1, _ := reg.Resolve(ctx, "fraud", "1")
			r.Say("v1 trained on %s (%s) is champion", ver1.FeatureService, ver1.FeatureServiceHash[:19])

			r.Step("The server serves fraud fed by fraud_tx@1, checked with the feature registry")
			srv, prom, err := followingServer(ctx, cfg, reg, "fraud", func(sc *serving.Config) {
				sc.Features, sc.Models[0].FeatureService = freg, "fraud_tx@1"
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			st, _ := srv.Status("fraud")
			r.Check("the server loads v1: features.Registry.CheckSchema(fraud_tx@1, v1's hash) passes", v1.Moved && st.Primary == 1 && st.Refused == "")

			r.Step("A retrain on fraud_tx@2 (10 features) asks to become champion")
			pruned, err := data.Dataset.SelectFeatures(names[:10])
			if err != nil {
				return err
			}
			def = fraudDefinition("fraud-v2", pruned, trainGBDT, registry.Champion, gates)
			def.Source = trainedOn(pruned, "fraud_tx@2", h2)
			v2, err := runPipeline(ctx, reg, def, ckpt, nil)
			if err != nil {
				return err
			}
			sayGates(r, v2.Gates)
			r.Check("promotion's schema gate (on by default) refuses v2: the holder was trained on fraud_tx@1",
				!v2.Moved && len(v2.Gates) > 1 && v2.Gates[1].Gate == "feature-schema" && !v2.Gates[1].Passed && !v2.Gates[1].Skipped)

			r.Step("Someone forces it anyway; the server refuses to load it")
			if _, err := reg.Promote(ctx, registry.PromoteRequest{Model: "fraud", Alias: registry.Champion, Version: v2.Version, Actor: "bob", Gates: gates, Force: true,
				Reason: "CHG-2001: switch to fraud_tx@2 tonight"}); err != nil {
				return err
			}
			st = awaitRefusal(srv, "fraud", 10*time.Second)
			r.Say("server: %s", st.Refused)
			res, err := answersWith(ctx, srv, "fraud", data.X[:5*15], 5)
			r.Check("the server refuses v2 as trained on another feature service",
				strings.Contains(st.Refused, serving.ErrFeatureServiceMismatch.Error()) && strings.Contains(st.Refused, "fraud_tx@2"))
			r.Check("v1 keeps answering from the primary path", err == nil && st.Primary == 1 && res.Version == 1 && res.Path == serving.PathPrimary)
			refused := counterValue(prom, "casebook_serving_model_refused_total", map[string]string{"model": "fraud", "reason": "feature-service"})
			rs := refusedEntries(ctx, reg, "fraud")
			for _, e := range rs {
				r.Say("audit entry %d: %s by %s, %s v%d kept, v%d refused", e.Seq, e.Action, e.Actor, e.Alias, e.From, e.To)
			}
			r.Measure("casebook_serving_model_refused_total{reason=feature-service}", refused, "")
			r.Check("the refusal is counted and in the registry's audit log", refused == 1 && len(rs) == 1 && rs[0].To == v2.Version)
			_, err = reg.VerifyAudit(ctx)
			r.Check("the audit chain still verifies", err == nil)

			r.Step("Roll the alias back")
			if _, err := reg.Rollback(ctx, "fraud", registry.Champion, "carol", "serving refused v2: trained on fraud_tx@2"); err != nil {
				return err
			}
			deadline := time.Now().Add(10 * time.Second)
			for st.Refused != "" && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				st, _ = srv.Status("fraud")
			}
			r.Check("back at v1, the server reports nothing refused", st.Primary == 1 && st.Refused == "")
			r.Say("To move to fraud_tx@2: serve it (mlp serve --feature-service), then promote with --allow-schema-change.")
			return nil
		},
	}
}

func pipelineResume(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "pipeline/resume",
		Summary: "A training run killed after training resumes from its checkpoints, and registers exactly one version.",
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
			data := mltest.Fraudish(100_000, 15, 4)
			trains := 0
			train := func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
				trains++
				return trainGBDT(ctx, d)
			}
			def := fraudDefinition("fraud-gbdt", data.Dataset, train, registry.Challenger, registry.DefaultGates())

			r.Step("Run the pipeline and kill it right after the train step")
			killed := errors.New("SIGKILL")
			t0 := time.Now()
			_, err = runPipeline(ctx, reg, def, ckpt, func(step string) error {
				if step == pipeline.StepTrain {
					return killed
				}
				return nil
			})
			r.Say("run 1: %v after %v", err, time.Since(t0).Round(time.Millisecond))
			vs, _ := reg.Store().ListVersions(ctx, "fraud")
			r.Check("the killed run registered nothing", errors.Is(err, killed) && len(vs) == 0)

			r.Step("Run it again")
			t0 = time.Now()
			res, err := runPipeline(ctx, reg, def, ckpt, nil)
			if err != nil {
				return err
			}
			r.Say("run 2: resumed %v, executed %v in %v", res.Resumed, res.Executed, time.Since(t0).Round(time.Millisecond))
			r.Measure("times the model was trained", float64(trains), "")
			r.Check("the second run restored build and train instead of redoing them", trains == 1 && len(res.Resumed) == 2)
			r.Check("exactly one version was registered and moved to challenger", res.Created && res.Version == 1 && res.Moved)
			return nil
		},
	}
}
