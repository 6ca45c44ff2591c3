package scenarios

import (
	"bytes"
	"context"
	"testing"

	"github.com/casebook-ml/casebook/platform/scenario"
)

// Every fraud scenario runs and every check it makes holds, so the demo stays true.
func TestScenarios(t *testing.T) {
	for _, sc := range Set() {
		t.Run(sc.Name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := scenario.Set{sc}.Run(context.Background(), sc.Name, &out)
			if err != nil {
				t.Fatalf("run %s = %v\n%s", sc.Name, err, out.String())
			}
			for _, c := range res.Checks {
				if !c.OK && !c.Timing {
					t.Errorf("%s: check failed: %s\n%s", sc.Name, c.Claim, out.String())
				}
			}
		})
	}
}
