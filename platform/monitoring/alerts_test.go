package monitoring

import (
	"context"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/pipeline"
)

func TestAlertHysteresis(t *testing.T) {
	rule := Rule{Name: "psi_x", Model: "m", Severity: SeverityWarning, Signal: "drift:x:psi", Fire: 0.2, Clear: 0.1, For: 2, ClearFor: 2, Retrain: true}
	for _, tc := range []struct {
		name   string
		values []float64
		want   string // state after each evaluation: . resolved, F firing
	}{
		{"hovering at the threshold does not flap", []float64{0.19, 0.21, 0.19, 0.21, 0.19, 0.21}, "......"},
		{"fires after two in a row", []float64{0.05, 0.25, 0.3, 0.3}, "..FF"},
		{"stays firing between clear and fire", []float64{0.3, 0.3, 0.15, 0.19, 0.12, 0.15}, ".FFFFF"},
		{"resolves after two below clear", []float64{0.3, 0.3, 0.05, 0.05, 0.05}, ".FF.."},
		{"one dip below clear is not enough", []float64{0.3, 0.3, 0.05, 0.15, 0.05, 0.3}, ".FFFFF"},
	} {
		a, err := NewAlerter(AlerterConfig{Rules: []Rule{rule}})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		transitions := 0
		for i, v := range tc.values {
			out, err := a.Evaluate(context.Background(), t0.Add(time.Duration(i)*time.Minute), map[string]float64{"drift:x:psi": v})
			if err != nil {
				t.Fatal(err)
			}
			transitions += len(out)
			if len(a.Firing()) == 1 {
				got += "F"
			} else {
				got += "."
			}
		}
		if got != tc.want {
			t.Errorf("%s: states over %v = %q, want %q", tc.name, tc.values, got, tc.want)
		}
		if tc.name == "hovering at the threshold does not flap" && transitions != 0 {
			t.Errorf("%s: %d transitions, want 0", tc.name, transitions)
		}
	}
}

func TestAlertBelowAndTrigger(t *testing.T) {
	a, err := NewAlerter(AlerterConfig{Rules: []Rule{
		{Name: "ks_x", Model: "m", Signal: "drift:x:ks", Below: true, Fire: 0.01, Clear: 0.05, For: 1, ClearFor: 1, Retrain: true},
		{Name: "decay", Model: "m", Signal: DecaySignal("auc"), Fire: 0.05, Clear: 0.02, For: 1, ClearFor: 1, Retrain: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := a.Evaluate(context.Background(), t0, map[string]float64{"drift:x:ks": 0.001, DecaySignal("auc"): 0.1})
	if len(out) != 2 || out[0].State != StateFiring || !out[0].Retrain {
		t.Fatalf("Evaluate = %+v, want two firing transitions that retrain", out)
	}
	select {
	case tr := <-a.Triggers():
		if tr.Kind != pipeline.Alert {
			t.Errorf("trigger kind = %s, want alert", tr.Kind)
		}
	default:
		t.Fatal("no retraining trigger sent")
	}
	select {
	case tr := <-a.Triggers():
		t.Errorf("second trigger %+v queued; want it dropped while one run is pending", tr)
	default:
	}
	out, _ = a.Evaluate(context.Background(), t0, map[string]float64{"drift:x:ks": 0.2})
	if len(out) != 1 || out[0].State != StateResolved {
		t.Errorf("Evaluate(p = 0.2) = %+v, want ks_x resolved", out)
	}
	if cur := CurrentAlerts(append(out, Alert{Rule: "decay", Model: "m", State: StateFiring})); len(cur) != 1 || cur[0].Rule != "decay" {
		t.Errorf("CurrentAlerts = %+v, want only decay firing", cur)
	}
	if _, err := NewAlerter(AlerterConfig{Rules: []Rule{{Name: "bad", Model: "m", Signal: "s", Fire: 0.1, Clear: 0.2, For: 1, ClearFor: 1}}}); err == nil {
		t.Error("NewAlerter accepted a clear level past the fire level")
	}
}
