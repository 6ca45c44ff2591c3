// Package consoletest seeds a registry and an event log with what the console shows:
// models with versions, metrics, gates and aliases, and one model's prediction log with
// drift, outcomes and alert transitions. The console's tests, its benchmark and
// `mlp console --demo` use it.
package consoletest

import (
	"context"
	"fmt"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// Options says how much to seed.
type Options struct {
	// Models named Prefix-000, Prefix-001, … each get Versions versions; v1 is champion.
	Prefix           string
	Models, Versions int
	// Predictions logged for the first model (0: none), the second half with its first
	// feature shifted by one standard deviation, each with an outcome six hours later.
	Predictions int
}

// Seeded is what Seed wrote.
type Seeded struct {
	Models []string
	// Logged is the model with a prediction log ("" if none).
	Logged string
}

// Seed registers the models and logs the predictions. Every version of a model holds the
// same small logistic regression under a different training-data fingerprint, so the
// versions are distinct and cheap; version n records holdout AUC 0.80 + n/1000 and a
// 100 µs p99, so promoting a later version passes the default gates.
func Seed(ctx context.Context, reg *registry.Registry, l *eventlog.Log, o Options) (Seeded, error) {
	var out Seeded
	data := servingtest.Data(4000, 6, 5)
	m, err := servingtest.LogReg(ctx, data.Dataset)
	if err != nil {
		return out, err
	}
	art, err := m.MarshalBinary()
	if err != nil {
		return out, err
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range o.Models {
		name := fmt.Sprintf("%s-%03d", o.Prefix, i)
		out.Models = append(out.Models, name)
		for n := 1; n <= o.Versions; n++ {
			v := registry.Version{Model: name, Family: string(m.Family()), Schema: m.Schema(),
				Metrics:    map[string]ml.Metrics{"holdout": {ml.MetricAUC: 0.80 + float64(n)/1000}},
				PredictP99: 100 * time.Microsecond, RegisteredBy: "consoletest", CodeVersion: "seed",
				DataFingerprint: fmt.Sprintf("%s-v%d", name, n), DataRange: registry.DataRange{From: t0, To: t0.Add(24 * time.Hour)},
				IntendedUse: "a seeded model for the console", KnownLimits: []string{"synthetic data"},
				Params: map[string]string{"seed": "5"}}
			if n > 1 {
				v.Parent = n - 1
			}
			if _, _, err := reg.Register(ctx, registry.RegisterRequest{Version: v, Data: art}); err != nil {
				return out, err
			}
		}
		if _, err := reg.Promote(ctx, registry.PromoteRequest{Model: name, Alias: registry.Champion, Version: 1, Actor: "consoletest", Reason: "first champion", Gates: registry.DefaultGates()}); err != nil {
			return out, err
		}
	}
	if o.Predictions > 0 && l != nil && len(out.Models) > 0 {
		out.Logged = out.Models[0]
		if _, err := LogPredictions(ctx, reg, l, out.Logged, o.Predictions); err != nil {
			return out, err
		}
	}
	return out, nil
}

// LogPredictions scores n generator rows with model's champion, drifting the first
// feature in the second half, and logs them as the champion's predictions, with outcomes
// six hours later and the transitions of a PSI alert on that feature. It returns the
// champion's version.
func LogPredictions(ctx context.Context, reg *registry.Registry, l *eventlog.Log, model string, n int) (int, error) {
	m, v, err := reg.Load(ctx, model, registry.Champion)
	if err != nil {
		return 0, err
	}
	return v.Number, logPredictions(ctx, l, model, v.Number, m, n)
}

func logPredictions(ctx context.Context, l *eventlog.Log, model string, version int, m ml.Model, n int) error {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := monitoring.EnsureStreams(ctx, l, 0); err != nil {
		return err
	}
	pl, err := monitoring.NewPredictionLog(l, nil, nil)
	if err != nil {
		return err
	}
	g := servingtest.Data(n, 6, 9)
	s := m.Schema()
	k := s.Len()
	scores := make([]float64, n)
	for i := n / 2; i < n; i++ {
		g.X[i*k] += 1
	}
	if err := m.Predict(ml.Batch{Schema: s, X: g.X}, scores); err != nil {
		return err
	}
	preds := make([]predlog.Prediction, 0, n)
	outs := make([]predlog.Outcome, 0, n)
	for i := range n {
		f := map[string]float64{}
		for j, ft := range s.Features {
			f[ft.Name] = g.X[i*k+j]
		}
		at := t0.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("%s-%06d", model, i)
		preds = append(preds, predlog.Prediction{ID: id, Model: model, Version: version, Alias: registry.Champion, Time: at, Features: f, Score: scores[i], Path: "primary"})
		outs = append(outs, predlog.Outcome{ID: id, Model: model, Label: g.Y[i], Time: at.Add(6 * time.Hour), Kind: "label"})
	}
	for len(preds) > 0 {
		b := min(len(preds), 1000)
		if err := pl.Log(ctx, preds[:b]...); err != nil {
			return err
		}
		if err := pl.LogOutcomes(ctx, outs[:b]...); err != nil {
			return err
		}
		preds, outs = preds[b:], outs[b:]
	}
	first := s.Features[0].Name
	th := monitoring.DefaultThresholds()[monitoring.PSI]
	a, err := monitoring.NewAlerter(monitoring.AlerterConfig{Rules: monitoring.DriftRules(model, []string{first}, monitoring.PSI, th, false), Publisher: l})
	if err != nil {
		return err
	}
	for i, v := range []float64{0.02, 0.25, 0.4, 0.05, 0.03} { // fires after two checks past 0.2, clears after two below 0.1
		if _, err := a.Evaluate(ctx, t0.Add(time.Duration(n/2+i*n/10)*time.Minute), map[string]float64{"drift:" + first + ":psi": v}); err != nil {
			return err
		}
	}
	return nil
}
