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
	return decodePredictions(m, func(rec []byte, p *Prediction) error { return json.Unmarshal(rec, p) })
}

// scoreOnly is a record without its features: encoding/json skips the features object
// instead of building a map of it.
type scoreOnly struct {
	ID      string    `json:"id"`
	Model   string    `json:"model"`
	Version int       `json:"version"`
	Alias   string    `json:"alias,omitempty"`
	Time    time.Time `json:"time"`
	Score   float64   `json:"score"`
	Path    string    `json:"path,omitempty"`
}

// DecodeScores is DecodePredictions without the features (Features is nil): what joining
// outcomes to scores needs. Records as Encoder writes them take a fast path that skips
// the features without parsing them; anything else goes through encoding/json, so the
// result never depends on the path (TestDecodeScoresMatchesJSON).
func DecodeScores(m *eventlog.Message) ([]Prediction, error) {
	return decodePredictions(m, func(rec []byte, p *Prediction) error {
		if fast, ok := decodeScoreFast(rec); ok {
			*p = fast
			return nil
		}
		var s scoreOnly
		if err := json.Unmarshal(rec, &s); err != nil {
			return err
		}
		*p = Prediction{ID: s.ID, Model: s.Model, Version: s.Version, Alias: s.Alias, Time: s.Time, Score: s.Score, Path: s.Path}
		return nil
	})
}

func decodePredictions(m *eventlog.Message, decode func(rec []byte, p *Prediction) error) ([]Prediction, error) {
	data := bytes.TrimSuffix(m.Data, []byte{'\n'})
	out := make([]Prediction, 0, bytes.Count(data, []byte{'\n'})+1)
	for line := 1; ; line++ {
		rec, rest, more := bytes.Cut(data, []byte{'\n'})
		var p Prediction
		err := decode(rec, &p)
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

// decodeScoreFast parses exactly what Encoder.AppendRecord writes,
// {"id":"s","model":"s","version":n[,"alias":"s"],"time":"t","features":{...},"score":f[,"path":"s"]},
// with strings free of escapes; ok is false on any deviation.
func decodeScoreFast(b []byte) (p Prediction, ok bool) {
	i := 0
	lit := func(s string) bool {
		if len(b)-i < len(s) || string(b[i:i+len(s)]) != s {
			return false
		}
		i += len(s)
		return true
	}
	str := func() (string, bool) { // after the opening quote
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 || bytes.IndexByte(b[i:i+j], '\\') >= 0 {
			return "", false
		}
		s := string(b[i : i+j])
		i += j + 1
		return s, true
	}
	num := func() []byte {
		j := i
		for j < len(b) && (b[j] == '-' || b[j] == '+' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || (b[j] >= '0' && b[j] <= '9')) {
			j++
		}
		s := b[i:j]
		i = j
		return s
	}
	var err error
	if !lit(`{"id":"`) {
		return p, false
	}
	if p.ID, ok = str(); !ok || !lit(`,"model":"`) {
		return p, false
	}
	if p.Model, ok = str(); !ok || !lit(`,"version":`) {
		return p, false
	}
	v := num()
	if !jsonNumber(v) {
		return p, false
	}
	if p.Version, err = strconv.Atoi(string(v)); err != nil {
		return p, false
	}
	if lit(`,"alias":"`) {
		if p.Alias, ok = str(); !ok {
			return p, false
		}
	}
	if !lit(`,"time":"`) {
		return p, false
	}
	ts, ok := str()
	if !ok {
		return p, false
	}
	if p.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil || !lit(`,"features":{`) {
		return p, false
	}
	// Skip the features, checking their grammar: "name":number pairs, comma-separated.
	if !lit("}") {
		for {
			if !lit(`"`) {
				return p, false
			}
			n, ok := skipJSONString(b[i:])
			if !ok {
				return p, false
			}
			i += n
			if !lit(":") || !jsonNumber(num()) {
				return p, false
			}
			if lit("}") {
				break
			}
			if !lit(",") {
				return p, false
			}
		}
	}
	if !lit(`,"score":`) {
		return p, false
	}
	f := num()
	if !jsonNumber(f) {
		return p, false
	}
	if p.Score, err = strconv.ParseFloat(string(f), 64); err != nil {
		return p, false
	}
	if lit(`,"path":"`) {
		if p.Path, ok = str(); !ok {
			return p, false
		}
	}
	if !lit("}") || i != len(b) || p.ID == "" {
		return p, false
	}
	return p, true
}

// skipJSONString returns the length of a JSON string's rest up to and including its
// closing quote (b starts after the opening one), checking its escapes; ok is false if it
// is not valid JSON.
func skipJSONString(b []byte) (int, bool) {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			i++
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return 0, false
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false
					}
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// jsonNumber reports whether s is a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumber(s []byte) bool {
	i := 0
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if i >= len(s) || s[i] < '1' || s[i] > '9' || digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
