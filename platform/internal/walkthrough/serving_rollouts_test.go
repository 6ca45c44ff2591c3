package walkthrough

import (
	"errors"
	"testing"

	"github.com/casebook-ml/casebook/platform/serving"
)

// TestBlueGreenCauses: the rollouts check counts an answer against the switch only when the
// primary could not answer at all; an answer that was late, or refused as predicted late,
// is the machine's business and is counted apart.
func TestBlueGreenCauses(t *testing.T) {
	fb := func(reason string) serving.Result {
		return serving.Result{Path: serving.PathLastGood, Version: 1, Reason: reason}
	}
	cases := []struct {
		name      string
		res       serving.Result
		err       error
		late, bad int
	}{
		{name: "primary", res: serving.Result{Path: serving.PathPrimary, Version: 2}},
		{name: "deadline passed", res: fb(serving.ReasonDeadline), late: 1},
		{name: "shed by admission", res: fb(serving.ReasonOverloaded), late: 1},
		{name: "refused as predicted late", err: &serving.OverloadError{Model: "fraud", Reason: "deadline"}, late: 1},
		{name: "no version loaded", res: fb(serving.ReasonNotReady), bad: 1},
		{name: "version failing", res: fb(serving.ReasonModelError), bad: 1},
		{name: "breaker open", res: fb(serving.ReasonBreakerOpen), bad: 1},
		{name: "no path answered", err: serving.ErrUnavailable, bad: 1},
		{name: "other error", err: errors.New("boom"), bad: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var bg blueGreen
			bg.record(tc.res, tc.err)
			c := bg.snapshot()
			if c.requests != 1 || c.late != tc.late || c.switchFailed != tc.bad || c.primary != 1-tc.late-tc.bad {
				t.Errorf("record(%+v, %v) counts = %+v, want late %d, switch failures %d", tc.res, tc.err, c, tc.late, tc.bad)
			}
		})
	}
}
