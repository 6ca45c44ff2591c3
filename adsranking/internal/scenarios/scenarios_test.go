package scenarios

import (
	"bytes"
	"context"
	"testing"

	"github.com/casebook-ml/casebook/platform/scenario"
)

// Every scenario runs and every correctness check holds; timing checks are advisory here
// (benchmarks and loadgen judge speed). ads/quality is left out: its floor needs the
// full-size log (about 45 s); ctr's tests train the same code on a small one.
func TestScenarios(t *testing.T) {
	for _, sc := range Set() {
		if sc.Name == "ads/quality" {
			continue
		}
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
