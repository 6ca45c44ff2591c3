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

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/platform/eventlog"
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
const SpecSyntax = "fraud[:customers=N,terminals=N,days=N,start=DAY,seed=N,label-delay=DURATION|Nd]"

// IsSpec reports whether a --workload value names the fraud workload.
func IsSpec(spec string) bool {
	kind, _, _ := strings.Cut(strings.TrimSpace(spec), ":")
	return kind == "fraud"
}

// ParseSpec reads "fraud" or "fraud:key=value,..." (keys: customers, terminals, days,
// start, seed, label-delay); unnamed keys keep DefaultConfig's values. label-delay takes a
// Go duration (168h) or whole days (7d).
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
type Workload struct {
	cfg     Config
	evs     []eventlog.Event
	txs     int
	next    int
	overrun int64
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
	d, err := sim.Generate(ctx, cfg.sim())
	if err != nil {
		return nil, fmt.Errorf("fraud workload: %w", err)
	}
	evs, err := liveEvents(d.Transactions, cfg.StartDay, cfg.LabelDelay)
	if err != nil {
		return nil, fmt.Errorf("fraud workload: %w", err)
	}
	w := &Workload{cfg: cfg, evs: evs}
	for _, ev := range evs {
		if ev.Subject == events.TxSubject {
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
func (w *Workload) Len() int { return len(w.evs) }

// Transactions is the number of live transactions (each gets one decision).
func (w *Workload) Transactions() int { return w.txs }

// Events returns the live sequence. The caller must not modify it.
func (w *Workload) Events() []eventlog.Event { return w.evs }

// Next implements loadgen.Workload: the next event, a transaction (subject fraud.tx, id
// its TRANSACTION_ID, awaiting its decision) or a chargeback (fraud.label, no answer).
//
// A run must be sized to fit the sequence (the loadgen command refuses one that does not).
// Should Next be called past the end anyway, it repeats the last event under the same id,
// marked NoAnswer: the log deduplicates it, so the scorer sees nothing new and the request
// completes at its ack; the report's notes count these.
func (w *Workload) Next(*rand.Rand) loadgen.Request {
	if len(w.evs) == 0 {
		w.overrun++
		return loadgen.Request{NoAnswer: true, Subject: events.LabelSubject, ID: "fraudload-empty"}
	}
	i, past := w.next, w.next >= len(w.evs)
	if past {
		i = len(w.evs) - 1
		w.overrun++
	} else {
		w.next++
	}
	ev := w.evs[i]
	return loadgen.Request{
		ID:       ev.ID,
		Subject:  ev.Subject,
		Time:     ev.Time,
		Body:     ev.Data,
		NoAnswer: past || ev.Subject != events.TxSubject,
	}
}

func (w *Workload) String() string {
	c := w.cfg
	return fmt.Sprintf("fraud simulation (seed %d, %d customers, %d terminals, %d days), live from day %d: %d events (%d transactions, %d chargebacks %v after their fraud)",
		c.Seed, c.Customers, c.Terminals, c.Days, c.StartDay, len(w.evs), w.txs, len(w.evs)-w.txs, c.LabelDelay)
}

// Notes implements loadgen.Annotator.
func (w *Workload) Notes() []string {
	n := []string{fmt.Sprintf("fraud workload: %d of %d live events handed out; transactions await their decision, chargebacks complete at their ack", min(w.next, len(w.evs)), len(w.evs))}
	if w.overrun > 0 {
		n = append(n, fmt.Sprintf("fraud workload ran out: %d requests repeated the last event (deduplicated by the log, not scored)", w.overrun))
	}
	return n
}
