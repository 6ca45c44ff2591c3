package serving

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/predlog"
)

// PredictionLogger is where prediction records go: the event log (*eventlog.Log) in
// production, a fake in tests.
type PredictionLogger interface {
	PublishBatch(ctx context.Context, evs []eventlog.Event) ([]eventlog.Ack, error)
}

// Every answered row is published as a predlog.Prediction on
// predlog.PredictionSubject(model), as one line of a message that carries up to 256
// records, newline-delimited (predlog.DecodePredictions reads them). The same record can
// appear in two messages after a restart, so readers must tolerate a repeat.
//
// A record's ID is the request's id (the protocol's "id"), with "#row" appended when the
// request had several rows, so that outcomes can be joined to it; a request without an id
// gets a generated one. Alias is champion, canary or shadow; a shadow row has the same ID
// as the primary's row it mirrors. Path is the path that answered (Path*).

// logItem is one request's worth of records, expanded off the request path.
type logItem struct {
	model, alias, path, id string
	rowIDs                 []string
	rowTimes               []time.Time
	version, rows          int
	names                  []string
	x, scores              []float64
	at                     time.Time
}

// predictionLog publishes records in batches off the request path, many records to a
// message; a full buffer drops (and counts) records rather than slowing a caller down.
type predictionLog struct {
	out    PredictionLogger
	log    *slog.Logger
	met    *metrics
	ch     chan logItem
	seq    atomic.Uint64
	prefix string
	enc    map[string]*predlog.Encoder // by model; used by the loop goroutine only
	wg     sync.WaitGroup
	mu     sync.RWMutex
	closed bool
}

func newPredictionLog(out PredictionLogger, log *slog.Logger, met *metrics) *predictionLog {
	p := &predictionLog{out: out, log: log, met: met, ch: make(chan logItem, 4096),
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

// recordTime is the time a request's records carry: its event time, or now.
func recordTime(req Request) time.Time {
	if !req.EventTime.IsZero() {
		return req.EventTime.UTC()
	}
	return time.Now().UTC()
}

func (p *predictionLog) answer(model string, req Request, names []string, res Result) {
	rowIDs, rowTimes := req.RowIDs, req.RowTimes
	if len(rowIDs) != len(res.Scores) {
		rowIDs = nil
	}
	if len(rowTimes) != len(res.Scores) {
		rowTimes = nil
	}
	p.add(logItem{model: model, alias: res.Variant, path: res.Path, id: req.ID, rowIDs: rowIDs, rowTimes: rowTimes, version: res.Version, rows: len(res.Scores),
		names: names, x: req.X, scores: res.Scores, at: recordTime(req)})
}

func (p *predictionLog) shadow(model string, req Request, names []string, shadowVer int, shadow []float64) {
	rowIDs, rowTimes := req.RowIDs, req.RowTimes
	if len(rowIDs) != len(shadow) {
		rowIDs = nil
	}
	if len(rowTimes) != len(shadow) {
		rowTimes = nil
	}
	p.add(logItem{model: model, alias: roleShadow, id: req.ID, rowIDs: rowIDs, rowTimes: rowTimes, version: shadowVer, rows: len(shadow), names: names, x: req.X,
		scores: shadow, at: recordTime(req)})
}

// flushRecords is how many records the loop gathers before it publishes without waiting
// for the ticker.
const flushRecords = 256

// encode adds the records of it to msgs; rec is a scratch buffer, returned for reuse.
func (p *predictionLog) encode(it logItem, msgs *predlog.PredictionMessages, rec []byte) []byte {
	k := len(it.names)
	subject := predlog.PredictionSubject(it.model)
	enc := p.enc[it.model]
	if enc == nil || !enc.SameNames(it.names) {
		if p.enc == nil {
			p.enc = map[string]*predlog.Encoder{}
		}
		enc = predlog.NewEncoder(it.names)
		p.enc[it.model] = enc
	}
	for i, s := range it.scores {
		id := it.id
		switch {
		case it.rowIDs != nil:
			id = it.rowIDs[i]
		case it.rows > 1:
			id += "#" + strconv.Itoa(i)
		}
		at := it.at
		if it.rowTimes != nil {
			at = it.rowTimes[i].UTC()
		}
		var err error
		rec, err = enc.AppendRecord(rec[:0], id, it.model, it.version, it.alias, at, it.x[i*k:(i+1)*k], s, it.path)
		if err != nil {
			p.met.logDropped.Inc()
			continue
		}
		// A shadow row has its primary's record id; its event id differs so that the two
		// are not deduplicated as one.
		evID := id
		if it.alias == roleShadow {
			evID += "/shadow"
		}
		msgs.Add(subject, evID, at, rec)
	}
	return rec
}

// loop publishes records as messages of many records each (predlog.PredictionMessages:
// per subject, at most 256 records and 256 KiB), every 50 ms or as soon as flushRecords
// records wait, whichever comes first.
func (p *predictionLog) loop() {
	defer p.wg.Done()
	var msgs predlog.PredictionMessages
	var rec []byte
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	flush := func() {
		n := msgs.Records()
		if n == 0 {
			return
		}
		evs := msgs.Events()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := p.out.PublishBatch(ctx, evs); err != nil {
			p.met.logDropped.Add(float64(n))
			p.log.Warn("prediction log publish failed", "records", n, "messages", len(evs), "err", err)
		}
		cancel()
	}
	for {
		select {
		case it, ok := <-p.ch:
			if !ok {
				flush()
				return
			}
			rec = p.encode(it, &msgs, rec)
			if msgs.Records() >= flushRecords {
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
