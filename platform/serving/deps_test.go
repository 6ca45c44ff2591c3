package serving

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServingDoesNotImportMonitoring: a server logs predictions through platform/predlog,
// the contract both sides share; importing monitoring would bring the pipeline, the
// feature store and Parquet into every serving binary. go list sees what the build sees.
func TestServingDoesNotImportMonitoring(t *testing.T) {
	goTool, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	const platform = "github.com/casebook-ml/casebook/platform/"
	forbidden := []string{platform + "monitoring", platform + "pipeline", platform + "features", "github.com/parquet-go/"}
	for _, pkg := range []string{platform + "serving", platform + "predlog"} {
		out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed %d packages (%q); want its whole dependency graph", pkg, len(deps), deps)
		}
		reported := map[string]bool{}
		for _, d := range deps {
			for _, f := range forbidden {
				if strings.HasPrefix(d, f) && !reported[f] {
					reported[f] = true
					t.Errorf("%s depends on %s; serving and the prediction log contract must not import %s", pkg, d, f)
				}
			}
		}
	}
}
