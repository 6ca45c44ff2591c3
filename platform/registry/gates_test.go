package registry

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

func version(n int, metric string, value float64, p99 time.Duration, schema string) Version {
	return Version{Number: n, Metrics: map[string]ml.Metrics{"holdout": {metric: value}}, PredictP99: p99, SchemaHash: schema}
}

func TestGatesEvaluate(t *testing.T) {
	g := Gates{EvalSet: "holdout", Metric: ml.MetricAUC, MinImprovement: 0.01, ServingSchemaHash: "s1", LatencyBudget: time.Millisecond}
	ll := g
	ll.Metric = ml.MetricLogLoss
	holder := version(1, ml.MetricAUC, 0.80, time.Microsecond, "s1")
	holderLL := version(1, ml.MetricLogLoss, 0.40, time.Microsecond, "s1")
	tests := []struct {
		name   string
		g      Gates
		cand   Version
		holder *Version
		want   [3]bool
		margin float64
	}{
		{"beats by enough", g, version(2, ml.MetricAUC, 0.82, 10*time.Microsecond, "s1"), &holder, [3]bool{true, true, true}, 0.01},
		{"beats by too little", g, version(2, ml.MetricAUC, 0.805, 10*time.Microsecond, "s1"), &holder, [3]bool{false, true, true}, -0.005},
		{"no holder", g, version(2, ml.MetricAUC, 0.5, 10*time.Microsecond, "s1"), nil, [3]bool{true, true, true}, 0},
		{"metric missing", g, version(2, "other", 0.9, 10*time.Microsecond, "s1"), &holder, [3]bool{false, true, true}, 0},
		{"lower is better", ll, version(2, ml.MetricLogLoss, 0.38, 10*time.Microsecond, "s1"), &holderLL, [3]bool{true, true, true}, 0.01},
		{"lower is better, worse", ll, version(2, ml.MetricLogLoss, 0.42, 10*time.Microsecond, "s1"), &holderLL, [3]bool{false, true, true}, -0.03},
		{"schema differs", g, version(2, ml.MetricAUC, 0.9, 10*time.Microsecond, "s2"), &holder, [3]bool{true, false, true}, 0.09},
		{"too slow", g, version(2, ml.MetricAUC, 0.9, 2*time.Millisecond, "s1"), &holder, [3]bool{true, true, false}, 0.09},
		{"latency unmeasured", g, version(2, ml.MetricAUC, 0.9, 0, "s1"), &holder, [3]bool{true, true, false}, 0.09},
	}
	for _, tt := range tests {
		res := tt.g.Evaluate(tt.cand, tt.holder)
		got := [3]bool{res[0].Passed, res[1].Passed, res[2].Passed}
		if got != tt.want {
			t.Errorf("%s: Evaluate passed = %v, want %v (%+v)", tt.name, got, tt.want, res)
		}
		if tt.margin != 0 && (res[0].Margin-tt.margin > 1e-9 || tt.margin-res[0].Margin > 1e-9) {
			t.Errorf("%s: metric margin = %v, want %v", tt.name, res[0].Margin, tt.margin)
		}
	}
	// The feature service hash, when recorded, is what the schema gate compares.
	fsv := version(2, ml.MetricAUC, 0.9, time.Microsecond, "model-schema")
	fsv.FeatureServiceHash = "s1"
	if res := g.Evaluate(fsv, &holder); !res[1].Passed {
		t.Errorf("Evaluate(feature service hash = serving) schema gate = %+v, want passed", res[1])
	}
}

func TestVerifyChain(t *testing.T) {
	var chain []AuditEntry
	prev := ""
	for i := 1; i <= 4; i++ {
		e := AuditEntry{Seq: uint64(i), Time: "t", Actor: "a", Action: ActionPromote, Model: "m", Alias: "champion", From: i - 1, To: i, PrevHash: prev}
		e.Hash = EntryHash(e)
		prev = e.Hash
		chain = append(chain, e)
	}
	if err := VerifyChain(chain); err != nil {
		t.Fatalf("VerifyChain(intact) = %v", err)
	}
	tests := []struct {
		name string
		mod  func([]AuditEntry) []AuditEntry
		seq  uint64
	}{
		{"edited", func(c []AuditEntry) []AuditEntry { c[1].Reason = "x"; return c }, 2},
		{"removed", func(c []AuditEntry) []AuditEntry { return append(c[:1:1], c[2:]...) }, 2},
		{"reordered", func(c []AuditEntry) []AuditEntry { c[1], c[2] = c[2], c[1]; return c }, 2},
		{"renumbered after removal", func(c []AuditEntry) []AuditEntry {
			out := append(c[:1:1], c[2:]...)
			for i := range out {
				out[i].Seq = uint64(i + 1)
			}
			return out
		}, 2},
	}
	for _, tt := range tests {
		c := tt.mod(append([]AuditEntry(nil), chain...))
		var te *TamperError
		if err := VerifyChain(c); !errors.As(err, &te) || te.Seq != tt.seq {
			t.Errorf("VerifyChain(%s) = %v, want a TamperError at %d", tt.name, err, tt.seq)
		}
	}
}

func TestFloors(t *testing.T) {
	tests := []struct {
		name   string
		floor  Floor
		cand   Version
		passed bool
		margin float64
	}{
		{"above", Floor{"holdout", "recall_at_10", 0.95}, version(1, "recall_at_10", 0.97, 0, ""), true, 0.02},
		{"exactly", Floor{"holdout", "recall_at_10", 0.95}, version(1, "recall_at_10", 0.95, 0, ""), true, 0},
		{"below", Floor{"holdout", "recall_at_10", 0.95}, version(1, "recall_at_10", 0.39, 0, ""), false, -0.56},
		{"missing", Floor{"holdout", "recall_at_10", 0.95}, version(1, "other", 0.99, 0, ""), false, 0},
		{"lower is better, under", Floor{"holdout", ml.MetricLogLoss, 0.5}, version(1, ml.MetricLogLoss, 0.4, 0, ""), true, 0.1},
		{"lower is better, over", Floor{"holdout", ml.MetricLogLoss, 0.5}, version(1, ml.MetricLogLoss, 0.6, 0, ""), false, -0.1},
	}
	for _, tt := range tests {
		r := tt.floor.Check(tt.cand)
		if r.Passed != tt.passed || (tt.margin != 0 && (r.Margin-tt.margin > 1e-9 || tt.margin-r.Margin > 1e-9)) {
			t.Errorf("%s: Floor.Check = passed %v margin %v (%s), want passed %v margin %v", tt.name, r.Passed, r.Margin, r.Detail, tt.passed, tt.margin)
		}
	}
	// Floors run with the other gates, after them.
	g := Gates{EvalSet: "holdout", Metric: "recall_at_10", Floors: []Floor{{"holdout", "recall_at_10", 0.95}}}
	res := g.Evaluate(version(2, "recall_at_10", 0.5, 0, ""), nil)
	if last := res[len(res)-1]; last.Gate != "floor:holdout/recall_at_10" || last.Passed {
		t.Errorf("Evaluate with a floor: last result %+v, want the floor, failed", last)
	}
	if err := (Gates{EvalSet: "h", Metric: "m", Floors: []Floor{{Metric: "m"}}}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate(floor without eval set) = %v, want ErrInvalid", err)
	}
}

// By default the schema gate takes the serving schema from the alias's holder: a
// candidate trained on another feature service is refused without anyone passing a hash.
func TestDefaultGatesCheckSchemaAgainstHolder(t *testing.T) {
	holder := Version{Number: 1, FeatureService: "fraud@1", FeatureServiceHash: "sha256:aaaa", SchemaHash: "s1",
		Metrics: map[string]ml.Metrics{"holdout": {ml.MetricAUC: 0.8}}, PredictP99: time.Microsecond}
	same := holder
	same.Number = 2
	other := same
	other.Number, other.FeatureService, other.FeatureServiceHash = 3, "fraud@2", "sha256:bbbb"
	for _, tc := range []struct {
		name   string
		g      func() Gates
		cand   Version
		holder *Version
		passed bool
		skip   bool
	}{
		{"same service", DefaultGates, same, &holder, true, false},
		{"other service", DefaultGates, other, &holder, false, false},
		{"no holder", DefaultGates, other, nil, true, true},
		{"explicit hash wins", func() Gates { g := DefaultGates(); g.ServingSchemaHash = "sha256:bbbb"; return g }, other, &holder, true, false},
		{"schema change allowed", func() Gates { g := DefaultGates(); g.SchemaFromHolder = false; return g }, other, &holder, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.g().Evaluate(tc.cand, tc.holder)[1]
			if res.Gate != "feature-schema" || res.Passed != tc.passed || res.Skipped != tc.skip {
				t.Errorf("schema gate = %+v, want passed %v, skipped %v", res, tc.passed, tc.skip)
			}
			if !tc.passed && !strings.Contains(res.Detail, "fraud@2") {
				t.Errorf("refusal detail %q does not name the candidate's feature service", res.Detail)
			}
		})
	}
}
