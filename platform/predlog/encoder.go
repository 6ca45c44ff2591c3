package predlog

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"
)

// ErrNonFinite says a record holds an infinite or NaN score, or an infinite feature, which
// JSON cannot carry; encoding/json refuses such a record too.
var ErrNonFinite = errors.New("prediction record: non-finite value")

// Encoder writes Prediction JSON by hand for rows of one feature schema: the same bytes
// encoding/json produces (TestEncoderMatchesJSON), without reflection or a map per row,
// because a stream scorer logs every score and the log runs beside the request path. It is
// not safe for concurrent use.
type Encoder struct {
	names  []string // as given, schema order
	order  []int    // indexes of names in the order encoding/json sorts map keys
	quoted [][]byte // "name": per index
}

// NewEncoder returns an encoder for rows whose values are named names, in that order.
func NewEncoder(names []string) *Encoder {
	e := &Encoder{names: slices.Clone(names), order: make([]int, len(names)), quoted: make([][]byte, len(names))}
	for i, n := range names {
		e.order[i] = i
		e.quoted[i] = append(appendJSONString(nil, n), ':')
	}
	slices.SortStableFunc(e.order, func(a, b int) int {
		switch {
		case names[a] < names[b]:
			return -1
		case names[a] > names[b]:
			return 1
		}
		return 0
	})
	return e
}

// SameNames reports whether e was built for names.
func (e *Encoder) SameNames(names []string) bool { return slices.Equal(e.names, names) }

// AppendRecord appends one record's JSON, as encoding/json writes the Prediction with
// these fields; x is the row's values in the encoder's name order, a NaN value is left
// out. A non-finite score or an infinite value returns ErrNonFinite.
func (e *Encoder) AppendRecord(b []byte, id, model string, version int, alias string, at time.Time, x []float64, score float64, path string) ([]byte, error) {
	if math.IsNaN(score) || math.IsInf(score, 0) {
		return b, ErrNonFinite
	}
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, model)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(version), 10)
	if alias != "" {
		b = append(b, `,"alias":`...)
		b = appendJSONString(b, alias)
	}
	b = append(b, `,"time":"`...)
	b = at.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","features":{`...)
	first := true
	// Duplicate names keep the last value, as a map would; encoding/json writes it once.
	for k, j := range e.order {
		if k+1 < len(e.order) && e.names[e.order[k+1]] == e.names[j] {
			continue
		}
		v := x[j]
		if math.IsNaN(v) {
			continue // a missing value is left out
		}
		if math.IsInf(v, 0) {
			return b, ErrNonFinite
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, e.quoted[j]...)
		b = appendJSONFloat(b, v)
	}
	b = append(b, `},"score":`...)
	b = appendJSONFloat(b, score)
	if path != "" {
		b = append(b, `,"path":`...)
		b = appendJSONString(b, path)
	}
	return append(b, '}'), nil
}

// appendJSONFloat formats f as encoding/json does.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString quotes s as encoding/json does; strings that need escaping go through it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
