package server

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/casebook-ml/casebook/recsys/internal/recommend"
)

// The answer is written with strconv.Append* into a pooled buffer rather than through
// encoding/json: reflection over Response and its items would cost more allocations than
// the rest of the request together (BenchmarkServeRecommendations measures the floor).

// appendResponse appends the JSON body of an answer:
//
//	{"user":..,"items":[{"id":..,"score":..}],"model_version":..,"index_version":..,"path":..,
//	 "candidates":..,"timings_ms":{"retrieve":..,"features":..,"rank":..,"rerank":..,"total":..}}
func appendResponse(b []byte, r *recommend.Response, total time.Duration) []byte {
	b = append(b, `{"user":`...)
	b = strconv.AppendInt(b, r.User, 10)
	b = append(b, `,"items":[`...)
	for i, it := range r.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, it.ID, 10)
		b = append(b, `,"score":`...)
		b = appendFloat(b, it.Score)
		b = append(b, '}')
	}
	b = append(b, `],"model_version":`...)
	b = appendString(b, r.ModelVersion)
	b = append(b, `,"index_version":`...)
	b = appendString(b, r.IndexVersion)
	b = append(b, `,"path":`...)
	b = appendString(b, r.Path)
	b = append(b, `,"candidates":`...)
	b = strconv.AppendInt(b, int64(r.Candidates), 10)
	t := &r.Timings
	b = append(b, `,"timings_ms":{"retrieve":`...)
	b = appendMillis(b, t.Retrieve)
	b = append(b, `,"features":`...)
	b = appendMillis(b, t.Features)
	b = append(b, `,"rank":`...)
	b = appendMillis(b, t.Rank)
	b = append(b, `,"rerank":`...)
	b = appendMillis(b, t.Rerank)
	b = append(b, `,"total":`...)
	b = appendMillis(b, total)
	return append(b, "}}\n"...)
}

// appendServerTiming appends the Server-Timing header value (W3C Server Timing):
// "retrieve;dur=0.412, features;dur=0.100, rank;dur=1.250, rerank;dur=0.030, total;dur=1.900".
func appendServerTiming(b []byte, t *recommend.Timings, total time.Duration) []byte {
	b = append(b, "retrieve;dur="...)
	b = appendMillis(b, t.Retrieve)
	b = append(b, ", features;dur="...)
	b = appendMillis(b, t.Features)
	b = append(b, ", rank;dur="...)
	b = appendMillis(b, t.Rank)
	b = append(b, ", rerank;dur="...)
	b = appendMillis(b, t.Rerank)
	b = append(b, ", total;dur="...)
	return appendMillis(b, total)
}

// appendError appends {"error":"msg"}.
func appendError(b []byte, msg string) []byte {
	b = append(b, `{"error":`...)
	b = appendString(b, msg)
	return append(b, "}\n"...)
}

// appendMillis appends d in milliseconds with three decimals (rounded to the nearest
// microsecond), in integer arithmetic: it runs ten times per answer, and float formatting
// was a fifth of the server's own CPU.
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 {
		b = append(b, '-')
		d = -d
	}
	us := int64((d + 500*time.Nanosecond) / time.Microsecond)
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// appendFloat appends f as a JSON number, or null when it is NaN or infinite (which JSON
// cannot carry; a recommender should never produce one, but the answer must stay valid).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json
// does; <, > and & are left alone (the answer is JSON for programs, not HTML).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but not valid JavaScript in older engines; escaped as encoding/json does.
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
