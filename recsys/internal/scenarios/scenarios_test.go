package scenarios

import (
	"bytes"
	"context"
	"testing"

	"github.com/casebook-ml/casebook/platform/scenario"
)

// Every recommender scenario runs and every check it makes holds, so the demo stays true.
// Timing checks are advisory here: benchmarks enforce speed, on a quiet machine.
func TestScenarios(t *testing.T) {
	for _, sc := range Set() {
		t.Run(sc.Name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := scenario.Set{sc}.RunWith(context.Background(), sc.Name, &out, scenario.RunOptions{TimingAdvisory: true})
			if err != nil {
				t.Fatalf("run %s = %v\n%s", sc.Name, err, out.String())
			}
			for _, c := range res.Checks {
				if !c.OK {
					t.Logf("%s: timing check missed (advisory): %s", sc.Name, c.Claim)
				}
			}
		})
	}
}
