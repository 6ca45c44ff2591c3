package serving

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/monitoring"
)

// PredictionLogger is where prediction records go: the event log (*eventlog.Log) in
// production, a fake in tests.
type PredictionLogger interface {
	PublishBatch(ctx context.Context, evs []eventlog.Event) ([]eventlog.Ack, error)
}

// PredictionRecord is one scored row as platform/monitoring reads it, published on
// monitoring.PredictionSubject(model). ID is the request's id (the protocol's "id"), with
// "#row" appended when the request had several rows, so that outcomes can be joined to it; a
// request without an id gets a generated one. Alias is champion, canary or shadow; a shadow
// row has the same ID as the primary's row it mirrors. Features holds the values the model
// read, by name; no request key is ever logged. Path is the path that answered (Path*).
type PredictionRecord = monitoring.Prediction

// logItem is one request's worth of records, expanded off the request path.
type logItem struct {
	model, alias, path, id string
	rowIDs                 []string
	version, rows          int
	names                  []string
	x, scores              []float64
	at                     time.Time
}

// predictionLog publishes records in batches off the request path; a full buffer drops
// (and counts) records rather than slowing a caller down.
type predictionLog struct {
	out     PredictionLogger
	subject string
	log     *slog.Logger
	met     *metrics
	ch      chan logItem
	seq     atomic.Uint64
	prefix  string
	enc     map[string]*recordEncoder // by model; used by the loop goroutine only
	wg      sync.WaitGroup
	mu      sync.RWMutex
	closed  bool
}

func newPredictionLog(out PredictionLogger, subject string, log *slog.Logger, met *metrics) *predictionLog {
	p := &predictionLog{out: out, subject: subject, log: log, met: met, ch: make(chan logItem, 4096),
		prefix: "req-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"}
	p.wg.Add(1)
	go p.loop()
	return p
}

func (p *predictionLog) add(it logItem) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return
	}
	select {
	case p.ch <- it:
	default:
		p.met.logDropped.Add(float64(it.rows))
	}
}

// requestID returns the id records of this request carry.
func (p *predictionLog) requestID(id string) string {
	if id != "" {
		return id
	}
	return p.prefix + strconv.FormatUint(p.seq.Add(1), 10)
}

func (p *predictionLog) answer(model, id string, rowIDs []string, names []string, x []float64, res Result) {
	if len(rowIDs) != len(res.Scores) {
		rowIDs = nil
	}
	p.add(logItem{model: model, alias: res.Variant, path: res.Path, id: id, rowIDs: rowIDs, version: res.Version, rows: len(res.Scores),
		names: names, x: x, scores: res.Scores, at: time.Now().UTC()})
}

func (p *predictionLog) shadow(model, id string, rowIDs []string, names []string, x []float64, shadowVer int, shadow []float64) {
	if len(rowIDs) != len(shadow) {
		rowIDs = nil
	}
	p.add(logItem{model: model, alias: roleShadow, id: id, rowIDs: rowIDs, version: shadowVer, rows: len(shadow), names: names, x: x,
		scores: shadow, at: time.Now().UTC()})
}

func (p *predictionLog) events(it logItem, batch []eventlog.Event) []eventlog.Event {
	k := len(it.names)
	for i, s := range it.scores {
		id := it.id
		switch {
		case it.rowIDs != nil:
			id = it.rowIDs[i]
		case it.rows > 1:
			id += "#" + strconv.Itoa(i)
		}
		enc := p.enc[it.model]
		if enc == nil || !enc.sameNames(it.names) {
			if p.enc == nil {
				p.enc = map[string]*recordEncoder{}
			}
			enc = newRecordEncoder(it.names)
			p.enc[it.model] = enc
		}
		data, err := enc.appendRecord(make([]byte, 0, 160+48*len(it.names)), id, it.model, it.version, it.alias, it.at, it.x[i*k:(i+1)*k], s, it.path)
		if err != nil {
			p.met.logDropped.Inc()
			continue
		}
		evID := id
		if it.alias == roleShadow {
			evID += "/shadow"
		}
		batch = append(batch, eventlog.Event{ID: evID, Subject: p.subject + "." + it.model, Time: it.at, Data: data})
	}
	return batch
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
		case it, ok := <-p.ch:
			if !ok {
				flush()
				return
			}
			batch = p.events(it, batch)
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
