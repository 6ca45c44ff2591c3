package live

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/adsranking/internal/bidder"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/adsranking/internal/server"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/privacy/pii/piiscan"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
)

// Planted user ids: planted user i is plantedBase + i·plantedStep, so its user.id is
// "u9876543210123" and the like, which occur nowhere by chance.
const (
	plantedBase  = 9876543210123
	plantedStep  = 1000003
	plantedUsers = 40
)

type adsScan struct {
	outputs []piiscan.Output
	// known counts bid requests by raw user.id whose profile the bidder found (the join
	// from the raw id through its token to the materialized profile).
	known, asked int
	// onlineByToken and onlineByRaw count planted users whose profile the online store
	// returns when asked by token and by raw id.
	onlineByToken, onlineByRaw int
}

// scanAds starts the bidder's live system on the local default (embedded NATS with its
// files in a directory of the test, a registry on disk, the memory profile store), with
// every log line at debug level kept; materializes the profiles of planted users; sends bid
// requests carrying their raw user.id over HTTP, as an exchange would, and in process with
// the exchange's impression and click reports; then scans every output: the event log's
// files, the registry's files, the log lines, the gathered metrics and the /metrics page,
// and the online store asked by raw id. tokenize false is the control.
func scanAds(t *testing.T, tokenize bool) adsScan {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	logs := &piiscan.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	lc := eventlog.DefaultConfig()
	lc.Embedded.Dir, lc.Logger = filepath.Join(dir, "nats"), logger
	log, err := eventlog.Open(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	logOpen := true
	defer func() {
		if logOpen {
			log.Close()
		}
	}()
	rc := regfs.DefaultConfig()
	rc.Dir, rc.Logger = filepath.Join(dir, "registry"), logger
	rst, err := regfs.Open(rc)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := registry.DefaultConfig()
	rcfg.Logger = logger
	reg, err := registry.New(rst, rcfg)
	if err != nil {
		t.Fatal(err)
	}
	freg := features.NewRegistry()
	if err := profiles.Register(freg); err != nil {
		t.Fatal(err)
	}
	store := memory.New(freg)
	preg := prometheus.NewRegistry()
	met, err := bidder.NewMetrics(preg)
	if err != nil {
		t.Fatal(err)
	}
	var tok *pii.Tokenizer
	if tokenize {
		if tok, err = pii.NewEphemeral(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig()
	sctx, stop := context.WithCancel(ctx)
	sys, err := Start(sctx, cfg, Deps{Log: log, Registry: reg, Store: store, Metrics: met, Registerer: preg, Logger: logger, Tokenizer: tok})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	running := true
	defer func() {
		if running {
			stop()
			_ = sys.Wait()
		}
	}()

	// The planted users: the world's first users under planted ids, materialized through
	// the same ingestion path as the world's.
	planted := make([]sim.User, plantedUsers)
	var ids []int64
	for i := range planted {
		planted[i] = sys.World.Users[i]
		planted[i].ID = plantedBase + int64(i)*plantedStep
		ids = append(ids, planted[i].ID)
	}
	if err := profiles.Materialize(ctx, store, planted, time.Now(), tok); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(server.New(sys, func() string { return sys.Bidder.Model().Version }, preg, logger))
	defer srv.Close()
	x := NewExchange(sys.World, log, 1, 5)
	reqs := sys.World.Requests(2*plantedUsers, 23)
	res := adsScan{}
	for i, sr := range reqs {
		req := sys.World.BidRequest(sr)
		req.User.ID = profiles.Key(ids[i%plantedUsers])
		if i%2 == 0 {
			body, _ := json.Marshal(req)
			r, err := http.Post(srv.URL+"/openrtb2/auction", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusNoContent {
				t.Fatalf("POST /openrtb2/auction: %d", r.StatusCode)
			}
			continue
		}
		_, out := sys.Bid(ctx, req, time.Now())
		res.asked++
		if out.KnownUser {
			res.known++
		}
		if _, err := x.Deliver(ctx, sr, out, out.Position, time.Now()); err != nil {
			t.Fatal(err)
		}
	}

	// The online store, asked by token and by raw id.
	var byTok, byRaw []string
	for _, id := range ids {
		byRaw = append(byRaw, profiles.Key(id))
		if tok != nil {
			byTok = append(byTok, profiles.TokenKey(tok, profiles.Key(id)))
		}
	}
	decoded := piiscan.Output{Name: "online store (profiles read back by raw id)", Files: len(byRaw)}
	for _, q := range []struct {
		keys []string
		n    *int
	}{{byTok, &res.onlineByToken}, {byRaw, &res.onlineByRaw}} {
		if len(q.keys) == 0 {
			continue
		}
		r, err := store.Read(ctx, features.ReadRequest{At: time.Now(), Views: []features.ViewRequest{{View: profiles.View, Entities: q.keys}}})
		if err != nil {
			t.Fatal(err)
		}
		for e := range q.keys {
			decoded.Bytes += int64(len(q.keys[e]))
			if r.Views[0].Get(e, 0).Status != features.Missing {
				*q.n++
				if q.n == &res.onlineByRaw {
					decoded.Hit("profile under key " + q.keys[e])
				}
			}
		}
	}

	// Scan. Stop the system (it flushes its auctions to the log), then close the log so the
	// embedded server writes its blocks.
	ns := piiscan.Needles(ids)
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
	r, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(r.Body)
	r.Body.Close()
	mo.Scan("/metrics", page, ns)
	running = false
	stop()
	if err := sys.Wait(); err != nil {
		t.Fatal(err)
	}
	logOpen = false
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	eo, err := piiscan.ScanDir("event log (JetStream files: campaign changes, auctions, impressions, clicks)", filepath.Join(dir, "nats"), ns)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := piiscan.ScanDir("registry (version records, artifacts, audit log)", filepath.Join(dir, "registry"), ns)
	if err != nil {
		t.Fatal(err)
	}
	lo := piiscan.Output{Name: "log lines (debug level)", Files: 1}
	lo.Scan("logs", logs.Bytes(), ns)
	res.outputs = []piiscan.Output{eo, ro, decoded, mo, lo}
	return res
}

// TestNoRawUserIDLeavesIngestion plants distinctive user ids in the profiles and in the bid
// requests, runs the bidder's live path and finds none of them, in any encoding, in any
// output; the same run without tokenization (the control) finds them, so the scan can fail.
// Joins work on the tokens: every request by raw user.id finds its user's profile.
func TestNoRawUserIDLeavesIngestion(t *testing.T) {
	res := scanAds(t, true)
	for _, o := range res.outputs {
		t.Log(o)
	}
	if err := piiscan.Clean(res.outputs); err != nil {
		t.Errorf("tokenized run: %v", err)
	}
	if res.known != res.asked || res.asked == 0 {
		t.Errorf("%d of %d requests by raw user.id found the user's profile, want all", res.known, res.asked)
	}
	if res.onlineByToken != plantedUsers || res.onlineByRaw != 0 {
		t.Errorf("online store: %d planted users found by token, %d by raw id; want %d and 0", res.onlineByToken, res.onlineByRaw, plantedUsers)
	}

	ctl := scanAds(t, false)
	for _, o := range ctl.outputs {
		t.Logf("control: %-66s %4d parts %9d bytes %d hits %s", o.Name, o.Files, o.Bytes, o.Hits, o.Example)
	}
	if piiscan.Total(ctl.outputs) == 0 {
		t.Errorf("control run (no tokenization): 0 hits; the scan cannot see raw ids")
	}
}
