package predlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// The prediction log message format. One message on predictions.<model> carries one or
// more records: each record is a Prediction as encoding/json writes it, and records are
// separated by '\n' (newline-delimited JSON; a trailing newline is accepted, not
// required). A message with one record is exactly that record's JSON, as the log held
// before records were grouped, so older logs still read.
//
// Grouping exists because one JetStream write per scored row costs latency at tens of
// thousands of rows a second. Its price: a producer that restarts or regroups may store a
// record in two messages, so a reader must tolerate a repeated record (monitoring's Joiner
// ignores an id it has seen).
const (
	// MaxRecordsPerMessage bounds the records of one message.
	MaxRecordsPerMessage = 256
	// MaxMessageBytes bounds the data of one message, well under the server's max payload;
	// a single record larger than this goes alone in its own message.
	MaxMessageBytes = 256 << 10
)

// PredictionMessageID returns the event id of a message holding records with these ids
// (their event ids), in order. With one record it is the record's id, as before grouping.
// With several it is "preds-" + the 16 hex digits of a 64-bit FNV-1a hash of the ids (each
// written as its uvarint length, then its bytes) + "-" + the count. It depends only on the
// content, so a retried publish of the same records is deduplicated by the stream.
func PredictionMessageID(ids []string) string {
	var h messageIDHash
	for _, id := range ids {
		h.add(id)
	}
	return h.id()
}

// messageIDHash computes PredictionMessageID one id at a time.
type messageIDHash struct {
	sum   uint64
	first string
	n     int
}

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func (h *messageIDHash) add(id string) {
	if h.n == 0 {
		h.sum, h.first = fnvOffset64, id
	}
	h.n++
	var l [binary.MaxVarintLen64]byte
	for _, c := range l[:binary.PutUvarint(l[:], uint64(len(id)))] {
		h.sum = (h.sum ^ uint64(c)) * fnvPrime64
	}
	for i := 0; i < len(id); i++ {
		h.sum = (h.sum ^ uint64(id[i])) * fnvPrime64
	}
}

func (h *messageIDHash) id() string {
	if h.n == 1 {
		return h.first
	}
	b := make([]byte, 0, 6+16+1+4)
	b = append(b, "preds-"...)
	s := strconv.AppendUint(nil, h.sum, 16)
	for range 16 - len(s) {
		b = append(b, '0')
	}
	b = append(b, s...)
	b = append(b, '-')
	return string(strconv.AppendInt(b, int64(h.n), 10))
}

// PredictionMessages groups encoded prediction records into prediction log messages: per
// subject, in the order added, at most MaxRecordsPerMessage records and MaxMessageBytes of
// data each, with ids by PredictionMessageID. The same records added in the same order
// give the same messages. monitoring.PredictionLog and serving's prediction log both build
// their messages with it. The zero value is ready to use; it is not safe for concurrent use.
type PredictionMessages struct {
	open     map[string]*openMessage
	subjects []string // subjects with an open message, in the order opened
	done     []eventlog.Event
	records  int
	// free holds the buffers of closed messages for reuse: a message grows in a buffer
	// that is kept, and is copied out at its exact size when it closes (growing a fresh
	// buffer per message had allocated three times the bytes logged).
	free [][]byte
}

type openMessage struct {
	data []byte
	at   time.Time
	ids  messageIDHash
}

// Add appends one record under subject. record is the record's JSON without a newline; it
// is copied, so the caller may reuse it. id is the record's event id, the input of the
// message id; at is the record's time, and a message's event time is its first record's.
func (b *PredictionMessages) Add(subject, id string, at time.Time, record []byte) {
	b.records++
	m := b.open[subject]
	if m != nil && len(m.data)+1+len(record) > MaxMessageBytes {
		b.close(subject, m)
		m = nil
	}
	if m == nil {
		if b.open == nil {
			b.open = map[string]*openMessage{}
		}
		var buf []byte
		if n := len(b.free); n > 0 {
			buf, b.free = b.free[n-1][:0], b.free[:n-1]
		}
		m = &openMessage{data: buf, at: at}
		b.open[subject] = m
		b.subjects = append(b.subjects, subject)
	} else {
		m.data = append(m.data, '\n')
	}
	m.data = append(m.data, record...)
	m.ids.add(id)
	if m.ids.n == MaxRecordsPerMessage {
		b.close(subject, m)
	}
}

func (b *PredictionMessages) close(subject string, m *openMessage) {
	b.done = append(b.done, eventlog.Event{ID: m.ids.id(), Subject: subject, Time: m.at, Data: bytes.Clone(m.data)})
	b.free = append(b.free, m.data)
	delete(b.open, subject)
	for i, s := range b.subjects {
		if s == subject {
			b.subjects = append(b.subjects[:i], b.subjects[i+1:]...)
			break
		}
	}
}

// Records returns how many records were added since the last Events.
func (b *PredictionMessages) Records() int { return b.records }

// Events closes every open message and returns the messages built since the last call,
// full ones first, then the rest in the order their subjects were opened. The caller owns
// the slice and the data.
func (b *PredictionMessages) Events() []eventlog.Event {
	for len(b.subjects) > 0 {
		s := b.subjects[0]
		b.close(s, b.open[s])
	}
	out := b.done
	b.done, b.records = nil, 0
	return out
}

var errNoID = errors.New("no id")

// DecodePredictions reads the records of one prediction log message, in order. Every line
// must decode and carry an id; otherwise the error wraps ErrBadRecord and names the
// message, its subject and the line (from 1). A record may repeat one already read from
// another message (see MaxRecordsPerMessage): readers must tolerate that.
func DecodePredictions(m *eventlog.Message) ([]Prediction, error) {
	data := bytes.TrimSuffix(m.Data, []byte{'\n'})
	out := make([]Prediction, 0, bytes.Count(data, []byte{'\n'})+1)
	for line := 1; ; line++ {
		rec, rest, more := bytes.Cut(data, []byte{'\n'})
		var p Prediction
		err := json.Unmarshal(rec, &p)
		if err == nil && p.ID == "" {
			err = errNoID
		}
		if err != nil {
			return nil, fmt.Errorf("prediction message %q on %s, line %d: %w: %w", m.ID, m.Subject, line, ErrBadRecord, err)
		}
		out = append(out, p)
		if !more {
			return out, nil
		}
		data = rest
	}
}

// DecodePrediction reads a message that holds exactly one record. A message with several
// is an error wrapping ErrBadRecord: read the log with DecodePredictions.
func DecodePrediction(m *eventlog.Message) (Prediction, error) {
	ps, err := DecodePredictions(m)
	if err != nil {
		return Prediction{}, err
	}
	if len(ps) != 1 {
		return Prediction{}, fmt.Errorf("prediction message %q on %s: %w: %d records, want 1 (use DecodePredictions)", m.ID, m.Subject, ErrBadRecord, len(ps))
	}
	return ps[0], nil
}
