package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// PredictionLogger is where prediction records go: the event log (*eventlog.Log) in
// production, a fake in tests.
type PredictionLogger interface {
	PublishBatch(ctx context.Context, evs []eventlog.Event) ([]eventlog.Ack, error)
}

// PredictionRecord is one logged answer (Kind "answer") or shadow comparison (Kind
// "shadow"). It carries no request key and no feature values.
type PredictionRecord struct {
	Kind          string    `json:"kind"`
	Model         string    `json:"model"`
	Version       int       `json:"version"`
	Path          string    `json:"path,omitempty"`
	Variant       string    `json:"variant,omitempty"`
	Scores        []float64 `json:"scores"`
	ShadowVersion int       `json:"shadow_version,omitempty"`
	ShadowScores  []float64 `json:"shadow_scores,omitempty"`
	Time          time.Time `json:"time"`
}

// predictionLog publishes records in batches off the request path; a full buffer drops
// (and counts) records rather than slowing a caller down.
type predictionLog struct {
	out     PredictionLogger
	subject string
	log     *slog.Logger
	met     *metrics
	ch      chan PredictionRecord
	seq     atomic.Uint64
	prefix  string
	wg      sync.WaitGroup
	mu      sync.RWMutex
	closed  bool
}

func newPredictionLog(out PredictionLogger, subject string, log *slog.Logger, met *metrics) *predictionLog {
	p := &predictionLog{out: out, subject: subject, log: log, met: met, ch: make(chan PredictionRecord, 4096),
		prefix: fmt.Sprintf("pred-%d-", time.Now().UnixNano())}
	p.wg.Add(1)
	go p.loop()
	return p
}

func (p *predictionLog) add(r PredictionRecord) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return
	}
	select {
	case p.ch <- r:
	default:
		p.met.logDropped.Inc()
	}
}

func (p *predictionLog) answer(model string, res Result) {
	p.add(PredictionRecord{Kind: "answer", Model: model, Version: res.Version, Path: res.Path, Variant: res.Variant, Scores: res.Scores, Time: time.Now().UTC()})
}

func (p *predictionLog) shadow(model string, ver, shadowVer int, primary, shadow []float64) {
	p.add(PredictionRecord{Kind: "shadow", Model: model, Version: ver, Scores: primary, ShadowVersion: shadowVer, ShadowScores: shadow, Time: time.Now().UTC()})
}

func (p *predictionLog) loop() {
	defer p.wg.Done()
	var batch []eventlog.Event
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := p.out.PublishBatch(ctx, batch); err != nil {
			p.met.logDropped.Add(float64(len(batch)))
			p.log.Warn("prediction log publish failed", "records", len(batch), "err", err)
		}
		cancel()
		batch = batch[:0]
	}
	for {
		select {
		case r, ok := <-p.ch:
			if !ok {
				flush()
				return
			}
			data, err := json.Marshal(r)
			if err != nil {
				p.met.logDropped.Inc()
				continue
			}
			batch = append(batch, eventlog.Event{ID: p.prefix + fmt.Sprint(p.seq.Add(1)), Subject: p.subject + "." + r.Model, Time: r.Time, Data: data})
			if len(batch) >= 256 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

func (p *predictionLog) close() {
	p.mu.Lock()
	p.closed = true
	close(p.ch)
	p.mu.Unlock()
	p.wg.Wait()
}
