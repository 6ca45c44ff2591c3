package decision

import (
	"encoding/json"
	"math"
	"strconv"
)

// AppendJSON appends d as encoding/json writes it (the same bytes as json.Marshal(d)) to b:
// the scorer encodes one decision per transaction, and this does it without reflection or
// an allocation per decision. A decision with a reason (the rules' path, rare) goes through
// encoding/json, which escapes the reason's text.
func AppendJSON(b []byte, d Decision) ([]byte, error) {
	if d.Reason != "" || !plain(string(d.Action)) || !plain(d.Path) || !plain(d.ServingPath) ||
		math.IsInf(d.Score, 0) || math.IsNaN(d.Score) {
		j, err := json.Marshal(d)
		return append(b, j...), err
	}
	b = append(b, `{"transaction_id":`...)
	b = strconv.AppendInt(b, d.TransactionID, 10)
	b = append(b, `,"action":"`...)
	b = append(b, d.Action...)
	b = append(b, `","score":`...)
	b = appendFloat(b, d.Score)
	b = append(b, `,"model_version":`...)
	b = strconv.AppendInt(b, int64(d.ModelVersion), 10)
	b = append(b, `,"path":"`...)
	b = append(b, d.Path...)
	b = append(b, '"')
	if d.ServingPath != "" {
		b = append(b, `,"serving_path":"`...)
		b = append(b, d.ServingPath...)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// plain reports whether s needs no escaping in a JSON string (encoding/json escapes <, >
// and & too).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendFloat formats f as encoding/json does for a float64 (ES6 number formatting).
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
