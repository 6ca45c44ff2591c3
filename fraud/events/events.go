// Package events is the fraud case study's wire contract on the event log: the streams and
// subjects, and how transactions, chargebacks and decisions are named and encoded. It is
// exported so that whoever feeds or reads the streaming scorer from outside (loadgen's
// fraud workload, a replay tool) speaks exactly what the scorer reads.
package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
)

// Streams and subjects of the case study. Transactions and chargebacks share one stream so
// that one consumer sees them in arrival order.
const (
	TxStream       = "FRAUD_TX"
	TxSubject      = "fraud.tx"
	LabelSubject   = "fraud.label"
	DecisionStream = "FRAUD_DECISIONS"
	// DecisionSubjects is where decisions are stored and what a reader subscribes to: each
	// decision is on its transaction's own subject (DecisionSubject), so the log can be
	// asked for the decision on one transaction without a scan (eventlog.LastBySubject).
	DecisionSubjects = "fraud.decision.>"

	labelIDPrefix    = "label-"
	decisionIDPrefix = "decision-"
)

// How long the log remembers event ids to drop a re-publish. The server keeps every id of
// the window in memory, about 140 bytes each and most of what its garbage collector marks
// when it is embedded in the scorer's process, so a window costs rate × duration. At
// 20,000 transactions/s (and as many decisions) on the 2-core reference machine, 2-minute
// windows held 4.8 million ids and stretched collections past a second; with 30 s for
// transactions and 10 s for decisions the p99 from publish to decision was about 80 ms;
// with these it meets 25 ms (docs/benchmarks.md, fraud section).
const (
	// TxDuplicatesWindow covers a producer retrying a publish whose ack it did not get: a
	// retry must come within 10 s (200,000 ids at 20,000/s). `fraud stream
	// --tx-duplicates` sets another; size it to the producers' retry horizon and the rate.
	TxDuplicatesWindow = 10 * time.Second
	// DecisionDuplicatesWindow is a second line only, and short. The scorer itself makes a
	// decision exactly once: after a restart or a failed batch it reads the newest decisions
	// back from the log and skips those already there, however long it was away (a failed
	// batch is retried after a backoff of at least a second, by when any publish in flight
	// has landed or failed).
	DecisionDuplicatesWindow = time.Second
)

// RetryHorizon is how long after a transaction's (or chargeback's) first copy reached the
// log a producer's retry that the log stored again, being later than the duplicates
// window, is recognised by the scorer from memory alone (at least this long, at most
// twice: eventlog.FirstSeen's generations); a later one is recognised through the log, by
// the decision on its transaction's subject (fraud/internal/stream, late.go). The
// scorer keeps 32–128 bytes per event of the last one or two horizons in memory, in a
// table the garbage collector does not scan: at 20,000 events/s, 2 minutes is 2.4–4.8
// million ids and at most 256 MB (BenchmarkFirstSeen measures bytes per id). `fraud
// stream --retry-horizon` sets another.
const RetryHorizon = 2 * time.Minute

// Streams declares both streams.
func Streams() []eventlog.StreamConfig {
	return []eventlog.StreamConfig{
		{Name: TxStream, Subjects: []string{TxSubject, LabelSubject}, Duplicates: TxDuplicatesWindow},
		{Name: DecisionStream, Subjects: []string{DecisionSubjects}, Duplicates: DecisionDuplicatesWindow},
	}
}

// TxID is a transaction's event id: its TRANSACTION_ID.
func TxID(id int64) string { return strconv.FormatInt(id, 10) }

// DecisionSubject is the subject of the decision on the transaction with event id txID
// (a TRANSACTION_ID, so a valid subject token): "fraud.decision.<id>".
func DecisionSubject(txID string) string { return decisionSubjectPrefix + txID }

const decisionSubjectPrefix = "fraud.decision."

// DecisionID is the event id of the decision on the transaction with event id txID; one
// per transaction, so a re-published decision is deduplicated by the log.
func DecisionID(txID string) string { return decisionIDPrefix + txID }

// TxIDOfDecision returns the transaction event id a decision event id answers, or false.
func TxIDOfDecision(decisionID string) (string, bool) {
	return strings.CutPrefix(decisionID, decisionIDPrefix)
}

// TxEvent is a transaction as published to the log when it happens, id = TRANSACTION_ID.
// Its label is not known yet: TX_FRAUD and the scenario are cleared.
func TxEvent(tx sim.Transaction) (eventlog.Event, error) {
	tx.Fraud, tx.Scenario = false, 0
	b, err := json.Marshal(tx)
	if err != nil {
		return eventlog.Event{}, fmt.Errorf("encode transaction %d: %w", tx.ID, err)
	}
	return eventlog.Event{ID: TxID(tx.ID), Subject: TxSubject, Time: tx.Time, Data: b}, nil
}

// LabelEvent is the chargeback that says tx was fraud, arriving at time at; the payload is
// the transaction, whose own time places the label in the feature windows.
func LabelEvent(tx sim.Transaction, at time.Time) (eventlog.Event, error) {
	b, err := json.Marshal(tx)
	if err != nil {
		return eventlog.Event{}, fmt.Errorf("encode label %d: %w", tx.ID, err)
	}
	return eventlog.Event{ID: labelIDPrefix + TxID(tx.ID), Subject: LabelSubject, Time: at, Data: b}, nil
}

// Replay orders a stream of transactions and their labels as they reach the log: each
// fraud's label labelDelay after it.
func Replay(txs []sim.Transaction, labelDelay time.Duration) ([]eventlog.Event, error) {
	var out []eventlog.Event
	var pending []sim.Transaction
	flush := func(until time.Time, all bool) error {
		for len(pending) > 0 && (all || !pending[0].Time.Add(labelDelay).After(until)) {
			ev, err := LabelEvent(pending[0], pending[0].Time.Add(labelDelay))
			if err != nil {
				return err
			}
			out, pending = append(out, ev), pending[1:]
		}
		return nil
	}
	for _, tx := range txs {
		if err := flush(tx.Time, false); err != nil {
			return nil, err
		}
		ev, err := TxEvent(tx)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
		if tx.Fraud {
			pending = append(pending, tx)
		}
	}
	if err := flush(time.Time{}, true); err != nil {
		return nil, err
	}
	return out, nil
}

// CustomerField is the pii field customer ids are tokenized under; it is also the name of
// the feature entity (txfeatures' customer views are marked PII).
const CustomerField = "customer"

// Tokenize returns a copy of txs with every customer id (CUSTOMER_ID, a card holder)
// replaced by its integer keyed-hash token, pii.Tokenizer.Int(CustomerField, id). A producer
// does this before it publishes, so no raw customer id reaches the event log or anything
// built from it: features, the offline store, the prediction log, log lines, metrics. The
// token keeps the id an int, so every consumer is unchanged, and it is deterministic, so
// a customer's transactions still meet in its feature windows. Terminal ids are a
// merchant's device, not a person's, and are kept.
func Tokenize(tok *pii.Tokenizer, txs []sim.Transaction) []sim.Transaction {
	out := make([]sim.Transaction, len(txs))
	memo := map[int]int{}
	for i, t := range txs {
		c, ok := memo[t.Customer]
		if !ok {
			c = int(tok.Int(CustomerField, int64(t.Customer)))
			memo[t.Customer] = c
		}
		t.Customer = c
		out[i] = t
	}
	return out
}
