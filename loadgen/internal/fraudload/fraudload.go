// Package fraudload is the loadgen Workload of the fraud case study: the transactions and
// chargebacks of a fraud/sim simulation, in the order fraud/events.Replay puts them on the
// log, from a start day on. The days before it are the scorer's warm-up history.
package fraudload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
)

// Config chooses the simulation and where the live stream starts. The scorer under test
// must simulate the same Seed, Customers, Terminals and Days (the other parameters are
// sim.DefaultConfig's) and warm its features with the events before StartDay.
type Config struct {
	Seed      uint64
	Customers int
	Terminals int
	Days      int
	// StartDay is the first day whose transactions are sent.
	StartDay int
	// LabelDelay is how long after a fraud its chargeback reaches the log.
	LabelDelay time.Duration
	// Tokenizer replaces customer ids by their tokens before anything is published
	// (events.Tokenize); the scorer must use the same key. Required.
	Tokenizer *pii.Tokenizer
	// CSV, when set, is a transaction CSV in the handbook's layout (the published dataset,
	// or one `fraud simulate` wrote) replayed instead of the simulation; the scorer must be
	// `fraud stream --csv` on the same file. Seed, Customers, Terminals and Days are then
	// unused. Its TX_FRAUD column is the ground truth: each fraud's chargeback is sent
	// LabelDelay after it.
	CSV string
	// Speedup, when positive, asks for the workload's own event times, Speedup times
	// faster (loadgen's --schedule replay:SPEEDUP, which it implies).
	Speedup float64
}

// DefaultConfig is the handbook's simulation (5,000 customers, 10,000 terminals, 183 days,
// seed 0), streamed from day 60 with chargebacks 7 days after each fraud.
func DefaultConfig() Config {
	d := sim.DefaultConfig()
	return Config{
		Seed: d.Seed, Customers: d.Customers, Terminals: d.Terminals, Days: d.Days,
		StartDay: 60, LabelDelay: 7 * 24 * time.Hour,
	}
}

// Validate checks the configuration without simulating.
func (c Config) Validate() error {
	if c.Speedup < 0 {
		return fmt.Errorf("%w: fraud speedup must be positive, got %v", loadgen.ErrBadWorkload, c.Speedup)
	}
	if c.LabelDelay < 0 {
		return fmt.Errorf("%w: fraud label delay must not be negative, got %v", loadgen.ErrBadWorkload, c.LabelDelay)
	}
	if c.CSV != "" {
		if c.StartDay < 0 {
			return fmt.Errorf("%w: fraud start day %d must not be negative", loadgen.ErrBadWorkload, c.StartDay)
		}
		return nil // the days are the file's, checked when it is read
	}
	if err := c.sim().Validate(); err != nil {
		return fmt.Errorf("%w: fraud simulation: %v", loadgen.ErrBadWorkload, err)
	}
	if c.StartDay < 0 || c.StartDay >= c.Days {
		return fmt.Errorf("%w: fraud start day %d must be in 0..%d (days=%d)", loadgen.ErrBadWorkload, c.StartDay, c.Days-1, c.Days)
	}
	if c.LabelDelay < 0 {
		return fmt.Errorf("%w: fraud label delay must not be negative, got %v", loadgen.ErrBadWorkload, c.LabelDelay)
	}
	return nil
}

func (c Config) sim() sim.Config {
	s := sim.DefaultConfig()
	s.Seed, s.Customers, s.Terminals, s.Days = c.Seed, c.Customers, c.Terminals, c.Days
	return s
}

// SpecSyntax is the command line's form of a fraud workload.
const SpecSyntax = "fraud[:customers=N,terminals=N,days=N,start=DAY,seed=N,label-delay=DURATION|Nd,csv=FILE,speedup=N]"

// IsSpec reports whether a --workload value names the fraud workload.
func IsSpec(spec string) bool {
	kind, _, _ := strings.Cut(strings.TrimSpace(spec), ":")
	return kind == "fraud"
}

// ParseSpec reads "fraud" or "fraud:key=value,..." (keys: customers, terminals, days,
// start, seed, label-delay, csv, speedup); unnamed keys keep DefaultConfig's values.
// label-delay takes a Go duration (168h) or whole days (7d); csv a file path (no commas);
// speedup a positive number.
func ParseSpec(spec string) (Config, error) {
	cfg := DefaultConfig()
	kind, args, _ := strings.Cut(strings.TrimSpace(spec), ":")
	if kind != "fraud" {
		return cfg, fmt.Errorf("%w: %q is not a fraud workload (want %s)", loadgen.ErrBadWorkload, spec, SpecSyntax)
	}
	for _, kv := range strings.Split(args, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return cfg, fmt.Errorf("%w: %q: %q is not key=value (want %s)", loadgen.ErrBadWorkload, spec, kv, SpecSyntax)
		}
		var err error
		switch k {
		case "customers":
			cfg.Customers, err = strconv.Atoi(v)
		case "terminals":
			cfg.Terminals, err = strconv.Atoi(v)
		case "days":
			cfg.Days, err = strconv.Atoi(v)
		case "start":
			cfg.StartDay, err = strconv.Atoi(v)
		case "seed":
			cfg.Seed, err = strconv.ParseUint(v, 10, 64)
		case "label-delay":
			cfg.LabelDelay, err = parseDelay(v)
		case "csv":
			cfg.CSV = v
			if v == "" {
				err = fmt.Errorf("want a file path")
			}
		case "speedup":
			cfg.Speedup, err = strconv.ParseFloat(v, 64)
			if err == nil && !(cfg.Speedup > 0) {
				err = fmt.Errorf("want a positive number")
			}
		default:
			return cfg, fmt.Errorf("%w: %q: unknown key %q (want %s)", loadgen.ErrBadWorkload, spec, k, SpecSyntax)
		}
		if err != nil {
			return cfg, fmt.Errorf("%w: %q: %s=%q: %v", loadgen.ErrBadWorkload, spec, k, v, err)
		}
	}
	return cfg, cfg.Validate()
}

func parseDelay(v string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, fmt.Errorf("want a duration such as 168h or whole days such as 7d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// Workload hands out the live events in log order. It is not safe for concurrent use (the
// engine calls Next from one goroutine).
//
// The events are packed into one byte arena with fixed-size records and no pointers, so the
// generator's garbage collector has next to nothing to scan: held as 1.2 million
// eventlog.Events (strings, slices, a time.Time each) they were 300 MB of pointers, and
// every collection of the generator marked them, delaying the answers it was timing.
type Workload struct {
	cfg     Config
	arena   []byte   // every event's id, then its data
	recs    []record // one per live event, in log order
	txs     int
	next    int
	overrun int64
}

// record locates one event in the arena; label marks a chargeback (subject fraud.label).
type record struct {
	off       uint64
	idLen     uint32
	dataLen   uint32
	unixNanos int64
	label     bool
}

// pack copies evs into an arena and records.
func pack(evs []eventlog.Event) (arena []byte, recs []record, err error) {
	n := 0
	for _, ev := range evs {
		n += len(ev.ID) + len(ev.Data)
	}
	arena, recs = make([]byte, 0, n), make([]record, len(evs))
	for i, ev := range evs {
		if ev.Subject != events.TxSubject && ev.Subject != events.LabelSubject {
			return nil, nil, fmt.Errorf("event %s on unexpected subject %q", ev.ID, ev.Subject)
		}
		recs[i] = record{off: uint64(len(arena)), idLen: uint32(len(ev.ID)), dataLen: uint32(len(ev.Data)),
			unixNanos: ev.Time.UnixNano(), label: ev.Subject == events.LabelSubject}
		arena = append(arena, ev.ID...)
		arena = append(arena, ev.Data...)
	}
	return arena, recs, nil
}

var (
	_ loadgen.Workload  = (*Workload)(nil)
	_ loadgen.Annotator = (*Workload)(nil)
)

// New simulates cfg and builds the live event sequence: events.Replay over the whole
// simulation, from the first transaction of StartDay on. Everything before that point
// (the earlier transactions and the chargebacks that reached the log by then) is the
// scorer's warm-up; chargebacks of earlier frauds that arrive after it are live. This is
// the split fraud's own streaming scenario makes, so warm-up plus live is exactly the
// whole replay, with no chargeback lost or sent twice. The default simulation takes a few
// seconds.
func New(ctx context.Context, cfg Config) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Tokenizer == nil {
		return nil, fmt.Errorf("%w: fraud workload: no PII tokenizer", loadgen.ErrBadWorkload)
	}
	var txs []sim.Transaction
	if cfg.CSV != "" {
		var err error
		if txs, err = sim.ReadCSVFile(cfg.CSV); err != nil {
			return nil, fmt.Errorf("%w: fraud workload: %v", loadgen.ErrBadWorkload, err)
		}
		if len(txs) == 0 || txs[len(txs)-1].Day < cfg.StartDay {
			return nil, fmt.Errorf("%w: fraud workload: %s has no transactions from day %d on", loadgen.ErrBadWorkload, cfg.CSV, cfg.StartDay)
		}
		cfg.Days = txs[len(txs)-1].Day + 1
	} else {
		d, err := sim.Generate(ctx, cfg.sim())
		if err != nil {
			return nil, fmt.Errorf("fraud workload: %w", err)
		}
		txs = d.Transactions
	}
	evs, err := liveEvents(events.Tokenize(cfg.Tokenizer, txs), cfg.StartDay, cfg.LabelDelay)
	if err != nil {
		return nil, fmt.Errorf("fraud workload: %w", err)
	}
	arena, recs, err := pack(evs)
	if err != nil {
		return nil, fmt.Errorf("fraud workload: %w", err)
	}
	w := &Workload{cfg: cfg, arena: arena, recs: recs}
	for _, r := range recs {
		if !r.label {
			w.txs++
		}
	}
	return w, nil
}

// liveEvents returns events.Replay(txs, delay) from the first transaction of day start on.
// Replay merges transactions with the chargebacks pending at each one; a chargeback of a
// transaction made at least delay before the first live one reaches the log before it, so
// replaying from the last such transaction yields the same live tail as replaying them all,
// at a fraction of the cost.
func liveEvents(txs []sim.Transaction, start int, delay time.Duration) ([]eventlog.Event, error) {
	first := sort.Search(len(txs), func(i int) bool { return txs[i].Day >= start })
	if first == len(txs) {
		return nil, nil
	}
	cut := txs[first].Time.Add(-delay)
	from := sort.Search(len(txs), func(i int) bool { return txs[i].Time.After(cut) })
	from = max(from-1, 0)
	evs, err := events.Replay(txs[from:], delay)
	if err != nil {
		return nil, err
	}
	firstID := events.TxID(txs[first].ID)
	for i, ev := range evs {
		if ev.Subject == events.TxSubject && ev.ID == firstID {
			// A new slice, so the warm-up events can be collected.
			return append([]eventlog.Event(nil), evs[i:]...), nil
		}
	}
	return nil, fmt.Errorf("replay lost transaction %s", firstID)
}

// Len is the number of live events: the most requests a run can send before it runs out.
func (w *Workload) Len() int { return len(w.recs) }

// Transactions is the number of live transactions (each gets one decision).
func (w *Workload) Transactions() int { return w.txs }

// Next implements loadgen.Workload: the next event, a transaction (subject fraud.tx, id
// its TRANSACTION_ID, awaiting its decision) or a chargeback (fraud.label, no answer). Its
// Body points into the workload's arena: the target must not modify it.
//
// A run must be sized to fit the sequence (the loadgen command refuses one that does not).
// Should Next be called past the end anyway, it repeats the last event under the same id,
// marked NoAnswer: the log deduplicates it, so the scorer sees nothing new and the request
// completes at its ack; the report's notes count these.
func (w *Workload) Next(*rand.Rand) loadgen.Request {
	if len(w.recs) == 0 {
		w.overrun++
		return loadgen.Request{NoAnswer: true, Subject: events.LabelSubject, ID: "fraudload-empty"}
	}
	i, past := w.next, w.next >= len(w.recs)
	if past {
		i = len(w.recs) - 1
		w.overrun++
	} else {
		w.next++
	}
	r := w.recs[i]
	// The arena is never written after New, so the id can be a string over it: no copy and
	// no allocation per request.
	id := ""
	if r.idLen > 0 {
		id = unsafe.String(&w.arena[r.off], int(r.idLen))
	}
	end := r.off + uint64(r.idLen) + uint64(r.dataLen)
	subject := events.TxSubject
	if r.label {
		subject = events.LabelSubject
	}
	return loadgen.Request{
		ID:       id,
		Subject:  subject,
		Time:     time.Unix(0, r.unixNanos).UTC(),
		Body:     w.arena[r.off+uint64(r.idLen) : end : end],
		NoAnswer: past || r.label,
	}
}

// Offsets returns, for every live event in order, when it reaches the log relative to the
// first one, divided by speedup: its event time (a chargeback's is when it arrives,
// LabelDelay after its transaction, as events.Replay sets it). They never go back (a later
// event that happened a moment earlier would be sent at once). It is what `--schedule
// replay:SPEEDUP` sends by.
func (w *Workload) Offsets(speedup float64) []time.Duration {
	at := make([]time.Duration, len(w.recs))
	if len(w.recs) == 0 || !(speedup > 0) {
		return at
	}
	first := w.recs[0].unixNanos
	prev := time.Duration(0)
	for i, r := range w.recs {
		d := time.Duration(float64(r.unixNanos-first) / speedup)
		prev = max(prev, d)
		at[i] = prev
	}
	return at
}

func (w *Workload) String() string {
	c := w.cfg
	if c.CSV != "" {
		return fmt.Sprintf("fraud transactions of %s, live from day %d: %d events (%d transactions, %d chargebacks %v after their fraud)",
			c.CSV, c.StartDay, len(w.recs), w.txs, len(w.recs)-w.txs, c.LabelDelay)
	}
	return fmt.Sprintf("fraud simulation (seed %d, %d customers, %d terminals, %d days), live from day %d: %d events (%d transactions, %d chargebacks %v after their fraud)",
		c.Seed, c.Customers, c.Terminals, c.Days, c.StartDay, len(w.recs), w.txs, len(w.recs)-w.txs, c.LabelDelay)
}

// Notes implements loadgen.Annotator.
func (w *Workload) Notes() []string {
	n := []string{fmt.Sprintf("fraud workload: %d of %d live events handed out; transactions await their decision, chargebacks complete at their ack", min(w.next, len(w.recs)), len(w.recs))}
	if w.overrun > 0 {
		n = append(n, fmt.Sprintf("fraud workload ran out: %d requests repeated the last event (deduplicated by the log, not scored)", w.overrun))
	}
	return n
}
