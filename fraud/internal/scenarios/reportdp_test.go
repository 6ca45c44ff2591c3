package scenarios

import (
	"strings"
	"testing"
)

func TestReportEpsilon(t *testing.T) {
	for _, c := range []struct {
		env  string
		want float64
		err  bool
	}{
		{"", DefaultReportEpsilon, false}, {"off", 0, false}, {" OFF ", 0, false}, {"0.5", 0.5, false},
		{"0", 0, true}, {"-1", 0, true}, {"abc", 0, true}, {"Inf", 0, true}, {"NaN", 0, true},
	} {
		got, err := reportEpsilon(func(k string) string {
			if k != ReportDPEnv {
				t.Fatalf("read %s, want %s", k, ReportDPEnv)
			}
			return c.env
		})
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%s=%q: %v, %v; want %v, error %v", ReportDPEnv, c.env, got, err, c.want, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), ReportDPEnv) {
			t.Errorf("error %q does not name %s", err, ReportDPEnv)
		}
	}
}
