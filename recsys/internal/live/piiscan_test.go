package live

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/privacy/pii/piiscan"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/server"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

// Planted user ids: simulated user u becomes plantedBase + u·plantedStep, thirteen-digit
// numbers that occur nowhere by chance.
const (
	plantedBase = 9876543210123
	plantedStep = 1000003
)

// recsysScan is the evidence of one scan of the recommender's outputs.
type recsysScan struct {
	outputs []piiscan.Output
	// personal counts HTTP requests by raw id answered from the user's own embeddings (the
	// join from the raw id through its token to what was trained on).
	personal, asked int
	// clickedAgain counts clicked items recommended again after Interact (0: the click
	// reached the user's history through the token).
	clickedAgain, clicks int
	// onlineByToken and onlineByRaw count users whose features the online store returns
	// when asked by token and by raw id.
	onlineByToken, onlineByRaw int
	policy                     string
}

// scanRecsys trains on ratings whose user ids are planted, publishes to a registry on
// disk, serves the champions over HTTP from a memory online store with every log line at
// debug level kept, sends requests and clicks by raw id as a client would, and scans every
// output: the registry's files (version records, artifacts, audit log), the log lines, the
// gathered metrics and the /metrics page. tokenize false is the control: ids pass raw.
func scanRecsys(t *testing.T, tokenize bool) recsysScan {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	logs := &piiscan.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	sc := sim.DefaultConfig()
	sc.Users, sc.Items, sc.Interactions, sc.MaxPerUser = 200, 400, 8000, 150
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := s.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs := sim.Ratings(xs)
	var ids []int64
	for i := range rs {
		rs[i].User = plantedBase + rs[i].User*plantedStep
	}
	for u := int64(0); u < int64(sc.Users); u++ {
		ids = append(ids, plantedBase+u*plantedStep)
	}
	var tok *pii.Tokenizer
	if tokenize {
		if tok, err = pii.NewEphemeral(); err != nil {
			t.Fatal(err)
		}
		rs = TokenizeRatings(tok, rs)
	}
	cfg := train.DefaultConfig()
	cfg.Candidates, cfg.Ranker.Trees = 100, 30
	m, err := train.Fit(ctx, rs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := recsysScan{}
	if tok != nil {
		m.PIIPolicy = tok.Policy("user ids")
	}
	fcfg := regfs.DefaultConfig()
	fcfg.Dir, fcfg.Logger = filepath.Join(dir, "registry"), logger
	rst, err := regfs.Open(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := registry.DefaultConfig()
	rcfg.Logger = logger
	reg, err := registry.New(rst, rcfg)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := Publish(ctx, reg, m, retrieval.DefaultBuildConfig(), "pii-scan", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Ranker.Privacy != nil {
		res.policy = pub.Ranker.Privacy.PIIPolicy
	}
	end := time.Unix(xs[len(xs)-1].Time, 0).UTC()
	store := memory.New(m.Features)
	sys, err := Start(ctx, reg, m, store, recommend.DefaultConfig(), func() time.Time { return end }, logger)
	if err != nil {
		t.Fatal(err)
	}
	sys.Tokenizer = tok

	preg := prometheus.NewRegistry()
	hc := server.DefaultConfig()
	hc.Timeout, hc.Gatherer, hc.Tokenizer = 5*time.Second, preg, tok
	srv, err := server.New(sys.Service, hc, logger, preg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	get := func(path string) []byte {
		t.Helper()
		r, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s %v", path, r.StatusCode, b, err)
		}
		return b
	}
	type answer struct {
		Items []struct{ ID int64 }
		Path  string
	}
	recommendFor := func(id int64) answer {
		var a answer
		if err := json.Unmarshal(get(fmt.Sprintf("/v1/users/%d/recommendations?k=10", id)), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	for i, id := range ids {
		if i%10 != 0 {
			continue
		}
		a := recommendFor(id)
		res.asked++
		if a.Path == recommend.PathPersonal && len(a.Items) == 10 {
			res.personal++
		}
		// A click by raw id, as the event arrives; the user's next answer leaves it out.
		clicked := a.Items[1].ID
		if err := sys.Interact(ctx, []recfeatures.Interaction{{User: id, Item: clicked, Time: end.Add(time.Minute)}}); err != nil {
			t.Fatal(err)
		}
		res.clicks++
		if slices.ContainsFunc(recommendFor(id).Items, func(it struct{ ID int64 }) bool { return it.ID == clicked }) {
			res.clickedAgain++
		}
	}

	// The online store, asked by token and by raw id.
	var byTok, byRaw []string
	for _, id := range ids {
		byRaw = append(byRaw, recfeatures.IDString(id))
		if tok != nil {
			byTok = append(byTok, recfeatures.IDString(tok.Int53(recfeatures.UserField, id)))
		}
	}
	for _, q := range []struct {
		keys []string
		n    *int
	}{{byTok, &res.onlineByToken}, {byRaw, &res.onlineByRaw}} {
		if len(q.keys) == 0 {
			continue
		}
		r, err := store.Read(ctx, features.ReadRequest{At: end, Views: []features.ViewRequest{{View: recfeatures.UserView, Entities: q.keys}}})
		if err != nil {
			t.Fatal(err)
		}
		for e := range q.keys {
			if r.Views[0].Get(e, 0).Status != features.Missing {
				*q.n++
			}
		}
	}

	// Scan.
	ns := piiscan.Needles(ids)
	ro, err := piiscan.ScanDir("registry (version records, artifacts, audit log)", filepath.Join(dir, "registry"), ns)
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := preg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var mb strings.Builder
	for _, mf := range mfs {
		mb.WriteString(mf.String())
		mb.WriteByte('\n')
	}
	mo := piiscan.Output{Name: "Prometheus metrics (gathered, and the /metrics page)", Files: len(mfs)}
	mo.Scan("gathered", []byte(mb.String()), ns)
	mo.Scan("/metrics", get("/metrics"), ns)
	lo := piiscan.Output{Name: "log lines (debug level)", Files: 1}
	lo.Scan("logs", logs.Bytes(), ns)
	res.outputs = []piiscan.Output{ro, mo, lo}
	return res
}

// TestNoRawUserIDLeavesIngestion plants distinctive user ids in the ratings and in the
// requests and clicks, runs the recommender's live path and finds none of them, in any
// encoding, in any output; the same run without tokenization (the control) finds them, so
// the scan can fail. Joins work on the tokens: requests by raw id are answered from the
// user's own embeddings, a click by raw id reaches the user's history, and the online store
// answers by token, not by raw id.
func TestNoRawUserIDLeavesIngestion(t *testing.T) {
	res := scanRecsys(t, true)
	for _, o := range res.outputs {
		t.Log(o)
	}
	if err := piiscan.Clean(res.outputs); err != nil {
		t.Errorf("tokenized run: %v", err)
	}
	if res.personal != res.asked || res.asked == 0 {
		t.Errorf("%d of %d requests by raw id answered from the user's embeddings, want all", res.personal, res.asked)
	}
	if res.clickedAgain != 0 {
		t.Errorf("%d of %d items clicked by raw id recommended again", res.clickedAgain, res.clicks)
	}
	if res.onlineByToken == 0 || res.onlineByRaw != 0 {
		t.Errorf("online store: %d users found by token, %d by raw id; want >0 and 0", res.onlineByToken, res.onlineByRaw)
	}
	if !strings.Contains(res.policy, "HMAC-SHA256") {
		t.Errorf("the ranker version's Privacy.PIIPolicy = %q, want the tokenization named", res.policy)
	}

	ctl := scanRecsys(t, false)
	for _, o := range ctl.outputs {
		t.Logf("control: %-46s %4d parts %9d bytes %d hits %s", o.Name, o.Files, o.Bytes, o.Hits, o.Example)
	}
	if piiscan.Total(ctl.outputs) == 0 || ctl.onlineByRaw == 0 {
		t.Errorf("control run (no tokenization): %d hits, %d users found by raw id; the scan cannot see raw ids", piiscan.Total(ctl.outputs), ctl.onlineByRaw)
	}
}
