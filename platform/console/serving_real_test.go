package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/serving"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// TestServingPageReadsARealServer scrapes a real serving.Server's /metrics after a few
// requests, so that a metric serving renames shows up here and not in front of a user.
func TestServingPageReadsARealServer(t *testing.T) {
	ctx := context.Background()
	reg, err := servingtest.OpenRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := servingtest.Data(2000, 6, 3)
	m, err := servingtest.LogReg(ctx, data.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := servingtest.Register(ctx, reg, "scored", m, "champion"); err != nil {
		t.Fatal(err)
	}
	prom := prometheus.NewRegistry()
	sc := serving.DefaultConfig()
	sc.Registerer, sc.Gatherer = prom, prom
	sc.Models = []serving.ModelConfig{serving.DefaultModelConfig("scored")}
	srv, err := serving.New(ctx, reg, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for i := range 20 {
		resp, err := http.Post(ts.URL+"/v2/models/scored/infer", "application/json", strings.NewReader(string(servingtest.Body(data.X[i*6:(i+1)*6], 6))))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("infer = %d", resp.StatusCode)
		}
	}
	f := newFixture(t, false, func(c *Config) { c.ServingURLs = []string{ts.URL} })
	code, body := f.do("GET", "/serving", readKey, nil)
	i := strings.Index(body, `<a href="/models/scored">scored</a>`)
	if code != 200 || i < 0 {
		t.Fatalf("GET /serving = %d without the served model:\n%s", code, excerpt(body))
	}
	row := body[i:min(len(body), i+700)]
	for _, want := range []string{`<td class="num">20</td>`, "primary: 20", " ms</td>", "1.0 rows"} {
		if !strings.Contains(row, want) {
			t.Errorf("serving row lacks %q: %s", want, row)
		}
	}
	if strings.Contains(row, `<td class="num">–</td><td class="num">–</td>`) {
		t.Errorf("serving row has no latency: %s", row)
	}
}
