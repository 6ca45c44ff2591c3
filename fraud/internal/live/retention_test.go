package live

import (
	"strings"
	"testing"
	"time"
)

// A negative decision retention is refused with a message naming it; zero (forever) and a
// positive age are accepted.
func TestDecisionRetentionValidated(t *testing.T) {
	for _, c := range []struct {
		age  time.Duration
		want string
	}{{0, ""}, {24 * time.Hour, ""}, {-time.Second, "decision retention -1s"}} {
		cfg := DefaultStreamConfig()
		cfg.DecisionRetention = c.age
		err := cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("retention %v: Validate = %v, want %q", c.age, err, c.want)
		}
	}
}
