package live

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/privacy/pii/piiscan"
)

// PlantedBase is the first planted customer id: simulated customer c becomes
// PlantedBase + c·PlantedStep, thirteen-digit numbers that occur nowhere by chance.
const (
	PlantedBase = 9876543210123
	PlantedStep = 1000003
)

// PIIScan is the evidence of the PII scan: every output of the streaming path, how much of
// it was read and how many planted raw ids were found in it.
type PIIScan struct {
	// Planted is the number of distinct customer ids planted in the input.
	Planted int
	// Tokenized says whether ingestion tokenized them (false: the control run).
	Tokenized bool
	Outputs   []ScannedOutput
	// TrainingRows is the number of rows of the training set built on the offline store;
	// JoinMismatches counts its values that differ from the same features computed on the
	// raw ids (0: every customer's transactions met in its windows through the tokens).
	TrainingRows, JoinMismatches int
	// OnlineByToken counts customers whose features the online store returns when asked
	// by token; OnlineByRawID when asked by the raw id.
	OnlineByToken, OnlineByRawID int
	// Decided is the number of live transactions decided.
	Decided int64
	// PIIPolicy is what the registered model version records (Version.Privacy).
	PIIPolicy string
}

// ScannedOutput is one output scanned byte by byte (piiscan.Output).
type ScannedOutput = piiscan.Output

// Hits is the total over all outputs.
func (s *PIIScan) Hits() int { return piiscan.Total(s.Outputs) }

// ScanPII runs the fraud streaming path on a small simulation (customers over days) whose
// customer ids are replaced by planted thirteen-digit values, then reads every byte of every
// output: the embedded NATS server's JetStream files (transactions, chargebacks, decisions,
// the prediction log), the offline store's Parquet files and manifest written by the
// training-set path, the registry's files (version records, artifacts, audit log), every log
// line at debug level, and the gathered Prometheus metrics. tokenize false is the control:
// ingestion passes the raw ids through.
func ScanPII(ctx context.Context, tokenize bool, customers, days int) (*PIIScan, error) {
	dir, err := os.MkdirTemp("", "fraud-pii-scan-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logs := &piiscan.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	sc := sim.DefaultConfig()
	sc.Customers, sc.Terminals, sc.Days = customers, 2*customers, days
	d, err := sim.Generate(ctx, sc)
	if err != nil {
		return nil, err
	}
	txs := make([]sim.Transaction, len(d.Transactions))
	planted := map[int]bool{}
	for i, t := range d.Transactions {
		t.Customer = PlantedBase + t.Customer*PlantedStep
		planted[t.Customer] = true
		txs[i] = t
	}
	ids := make([]int, 0, len(planted))
	for id := range planted {
		ids = append(ids, id)
	}
	res := &PIIScan{Planted: len(ids), Tokenized: tokenize}

	lc := eventlog.DefaultConfig()
	lc.Embedded.Dir = filepath.Join(dir, "nats")
	lc.Logger = logger
	log, err := eventlog.Open(ctx, lc)
	if err != nil {
		return nil, err
	}
	logOpen := true
	defer func() {
		if logOpen {
			log.Close()
		}
	}()
	for _, s := range events.Streams() {
		if _, err := log.EnsureStream(ctx, s); err != nil {
			return nil, err
		}
	}
	if err := monitoring.EnsureStreams(ctx, log, time.Hour); err != nil {
		return nil, err
	}
	tok, err := pii.NewEphemeral()
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	streamFrom := days - 6
	cfg := Config{TrainEnd: streamFrom - 14, ValidEnd: streamFrom - 7, StreamFrom: streamFrom, LabelDelay: 3 * Day, Bucket: time.Hour,
		TxLateness: time.Hour, ReviewBudget: max(1, customers/10), Actor: "pii-scan", Metrics: reg, PredictionLog: log,
		Logger: logger, Tokenizer: tok, rawIDs: !tokenize}
	sys, err := Build(ctx, cfg, txs)
	if err != nil {
		return nil, err
	}
	if sys.Version.Privacy != nil {
		res.PIIPolicy = sys.Version.Privacy.PIIPolicy
	}
	sysOpen := true
	defer func() {
		if sysOpen {
			sys.Close()
		}
	}()

	// The stream: publish the live part and decide it.
	store := memory.New(sys.Features)
	stats := &stream.Stats{}
	met, err := stream.NewMetrics(reg, stats)
	if err != nil {
		return nil, err
	}
	scorer, err := sys.Scorer(ctx, log, store, stats, met)
	if err != nil {
		return nil, err
	}
	if _, err := log.PublishBatch(ctx, sys.Live); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- scorer.Run(rctx, eventlog.DefaultConsumerConfig()) }()
	deadline := time.Now().Add(time.Minute)
	for stats.Published.Load() < int64(sys.LiveTx) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		return nil, fmt.Errorf("scorer: %w", err)
	}
	res.Decided = stats.Published.Load()
	if res.Decided < int64(sys.LiveTx) {
		return nil, fmt.Errorf("pii scan: %d of %d live transactions decided in a minute", res.Decided, sys.LiveTx)
	}
	// The prediction log is published asynchronously: wait until it stops growing.
	var last uint64
	for i := 0; i < 100; i++ {
		st, err := log.Stream(ctx, predlog.PredictionStream)
		if err != nil {
			return nil, err
		}
		if st.Messages > 0 && st.Messages == last {
			break
		}
		last = st.Messages
		time.Sleep(100 * time.Millisecond)
	}

	// The offline store through the training-set path, and the join on tokens: the same
	// features as on the raw ids, value for value.
	freg := features.NewRegistry()
	if err := txfeatures.Register(freg, txfeatures.ExactBucket); err != nil {
		return nil, err
	}
	xTok, _, err := txfeatures.Build(ctx, freg, filepath.Join(dir, "offline"), sys.Txs)
	if err != nil {
		return nil, err
	}
	// Parquet pages are Snappy-compressed, so the byte scan can miss an id there: decode the
	// stored entity keys too.
	ocfg := features.DefaultOfflineConfig()
	ocfg.Dir = filepath.Join(dir, "offline")
	off, err := features.OpenOffline(ocfg, freg)
	if err != nil {
		return nil, err
	}
	rows, err := off.Scan(ctx, txfeatures.CustomerView, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	decoded := ScannedOutput{Name: "offline store rows (decoded entity keys)", Files: len(rows)}
	for _, r := range rows {
		decoded.Bytes += int64(len(r.Entity))
		if id, err := strconv.Atoi(r.Entity); err == nil && planted[id] {
			decoded.Hit("row key " + r.Entity)
		}
	}
	rreg := features.NewRegistry()
	if err := txfeatures.Register(rreg, txfeatures.ExactBucket); err != nil {
		return nil, err
	}
	xRaw, err := txfeatures.Offline(rreg, txs)
	if err != nil {
		return nil, err
	}
	res.TrainingRows = len(xTok) / txfeatures.Width
	if len(xTok) != len(xRaw) {
		return nil, fmt.Errorf("pii scan: %d training values on tokens, %d on raw ids", len(xTok), len(xRaw))
	}
	for i := range xTok {
		if xTok[i] != xRaw[i] {
			res.JoinMismatches++
		}
	}

	// The online store, asked by token and by raw id.
	var byTok, byRaw []string
	for _, id := range ids {
		byRaw = append(byRaw, strconv.Itoa(id))
		byTok = append(byTok, strconv.FormatInt(tok.Int(events.CustomerField, int64(id)), 10))
	}
	at := sys.Txs[len(sys.Txs)-1].Time
	for _, q := range []struct {
		keys []string
		n    *int
	}{{byTok, &res.OnlineByToken}, {byRaw, &res.OnlineByRawID}} {
		r, err := store.Read(ctx, features.ReadRequest{At: at, Views: []features.ViewRequest{{View: txfeatures.CustomerView, Entities: q.keys}}})
		if err != nil {
			return nil, err
		}
		for e := range q.keys {
			if r.Views[0].Get(e, 0).Status != features.Missing {
				*q.n++
			}
		}
	}

	// Scan. The event log is flushed by closing it (the embedded server writes its blocks).
	ns := piiscan.Needles(piiscan.Ints(ids))
	regDir := sys.dir
	for _, o := range []struct{ name, dir string }{
		{"registry (version records, artifacts, audit log)", regDir},
		{"offline store (Parquet partitions, manifest)", filepath.Join(dir, "offline")},
	} {
		so, err := piiscan.ScanDir(o.name, o.dir, ns)
		if err != nil {
			return nil, err
		}
		res.Outputs = append(res.Outputs, so)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	var mb strings.Builder
	for _, mf := range mfs {
		mb.WriteString(mf.String())
		mb.WriteByte('\n')
	}
	mo := ScannedOutput{Name: "Prometheus metrics (gathered)", Files: len(mfs)}
	mo.Scan("metrics", []byte(mb.String()), ns)
	sysOpen = false
	sys.Close() // flushes the prediction log
	logOpen = false
	if err := log.Close(); err != nil {
		return nil, err
	}
	so, err := piiscan.ScanDir("event log (JetStream files: transactions, chargebacks, decisions, prediction log)", filepath.Join(dir, "nats"), ns)
	if err != nil {
		return nil, err
	}
	lo := ScannedOutput{Name: "log lines (debug level)", Files: 1}
	lo.Scan("logs", logs.Bytes(), ns)
	res.Outputs = append([]ScannedOutput{so}, append(res.Outputs, decoded, mo, lo)...)
	return res, nil
}
