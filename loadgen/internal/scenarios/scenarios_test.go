package scenarios

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestScenariosPass runs both scenarios, shortened, and requires every check to hold. The
// checks compare against the stall, not against how fast this machine is.
func TestScenariosPass(t *testing.T) {
	p := Params{Rate: 1000, Duration: 4 * time.Second, StallAt: time.Second, Stall: time.Second, Workers: 8}
	set := Set(p)
	for _, name := range set.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := set.Run(context.Background(), name, io.Discard)
			if err != nil {
				t.Fatalf("Run(%s) = %v, want success; result %+v", name, err, res)
			}
			if len(res.Checks) == 0 || len(res.Measurements) == 0 {
				t.Errorf("Run(%s) recorded %d checks and %d measurements, want some of each", name, len(res.Checks), len(res.Measurements))
			}
		})
	}
}
