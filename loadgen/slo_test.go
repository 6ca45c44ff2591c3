package loadgen

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSLO(t *testing.T) {
	good := []struct {
		expr string
		want SLO
	}{
		{"p99<50ms", SLO{Metric: "p99", Op: "<", Value: 50}},
		{" p99.9 <= 1.5s ", SLO{Metric: "p99.9", Op: "<=", Value: 1500}},
		{"p50<200us", SLO{Metric: "p50", Op: "<", Value: 0.2}},
		{"max<2s", SLO{Metric: "max", Op: "<", Value: 2000}},
		{"errors<0.1%", SLO{Metric: "errors", Op: "<", Value: 0.001}},
		{"errors<=0.01", SLO{Metric: "errors", Op: "<=", Value: 0.01}},
		{"late<1%", SLO{Metric: "late", Op: "<", Value: 0.01}},
		{"rate>=19000", SLO{Metric: "rate", Op: ">=", Value: 19000}},
		{"rate>=99%", SLO{Metric: "rate", Op: ">=", Value: 0.99, OfTarget: true}},
	}
	for _, tc := range good {
		got, err := ParseSLO(tc.expr)
		if err != nil {
			t.Errorf("ParseSLO(%q) error = %v, want nil", tc.expr, err)
			continue
		}
		got.Expr = ""
		if diff := got.Value - tc.want.Value; got.Metric != tc.want.Metric || got.Op != tc.want.Op || diff > 1e-12 || diff < -1e-12 || got.OfTarget != tc.want.OfTarget {
			t.Errorf("ParseSLO(%q) = %+v, want %+v", tc.expr, got, tc.want)
		}
	}
	bad := []struct{ expr, mention string }{
		{"p99", "METRIC OP VALUE"},
		{"p99<fast", "not a duration"},
		{"p99<50", "not a duration"},
		{"p42<50ms", "unknown metric"},
		{"errors<lots", "not a fraction"},
		{"errors<150%", "percentage"},
		{"errors<2", "fraction"},
		{"rate>=many", "not a rate"},
		{"p99=50ms", "METRIC OP VALUE"},
		{"", "METRIC OP VALUE"},
	}
	for _, tc := range bad {
		_, err := ParseSLO(tc.expr)
		if !errors.Is(err, ErrBadSLO) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("ParseSLO(%q) error = %v, want ErrBadSLO mentioning %q", tc.expr, err, tc.mention)
		}
	}
}

func TestCheckSLOs(t *testing.T) {
	rep := &Report{
		Mode:         Open,
		Sent:         1000,
		Late:         5,
		ErrorRate:    0.002,
		TargetRate:   1000,
		AchievedRate: 990,
		Corrected:    Latency{P50Ms: 1, P99Ms: 40, MaxMs: 900},
		Uncorrected:  Latency{P99Ms: 2},
	}
	tests := []struct {
		expr string
		ok   bool
	}{
		{"p99<50ms", true},
		{"p99<30ms", false},
		{"max<1s", true},
		{"errors<0.1%", false},
		{"errors<0.5%", true},
		{"late<1%", true},
		{"late<0.1%", false},
		{"rate>=98%", true},
		{"rate>=99.5%", false},
		{"rate>995", false},
	}
	for _, tc := range tests {
		s, err := ParseSLO(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Check(rep); got.OK != tc.ok {
			t.Errorf("Check(%q) = %+v, want ok=%v", tc.expr, got, tc.ok)
		}
	}
	slos, _ := ParseSLOs([]string{"p99<50ms", "errors<0.1%"})
	err := rep.CheckSLOs(slos)
	if !errors.Is(err, ErrSLOMissed) || !strings.Contains(err.Error(), "errors<0.1%") || strings.Contains(err.Error(), "p99<50ms") {
		t.Errorf("CheckSLOs = %v, want ErrSLOMissed naming only errors<0.1%%", err)
	}
	if len(rep.SLOs) != 2 || !rep.SLOs[0].OK || rep.SLOs[1].OK {
		t.Errorf("report SLOs = %+v, want [met, missed]", rep.SLOs)
	}
	// In closed loop the latency SLOs read the only histogram there is.
	closed := &Report{Mode: Closed, Uncorrected: Latency{P99Ms: 2}, Corrected: Latency{P99Ms: 2}}
	s, _ := ParseSLO("rate>=90%")
	if s.Check(closed).OK {
		t.Errorf("Check(rate>=90%%) in closed loop = ok, want a miss: there is no target rate")
	}
}
