package server

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/recsys/internal/recommend"
)

// TestAppendString: the hand-written encoder reads back to the same string, as
// encoding/json reads it, for every kind of character that needs escaping.
func TestAppendString(t *testing.T) {
	tests := []struct{ in, wantDecoded string }{
		{"", ""},
		{"recsys-ranker/v3", "recsys-ranker/v3"},
		{`quote " and backslash \`, `quote " and backslash \`},
		{"new\nline\ttab\rcr", "new\nline\ttab\rcr"},
		{"ctrl \x00\x01\x1f", "ctrl \x00\x01\x1f"},
		{"unicode é 推荐 🎬", "unicode é 推荐 🎬"},
		{"bad utf-8 \xff\xfe end", "bad utf-8 \ufffd\ufffd end"},
		{"separators \u2028\u2029", "separators \u2028\u2029"},
		{"<html>&", "<html>&"},
	}
	for _, tc := range tests {
		b := appendString(nil, tc.in)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("appendString(%q) = %s, not a JSON string: %v", tc.in, b, err)
			continue
		}
		if got != tc.wantDecoded {
			t.Errorf("appendString(%q) = %s, decodes to %q, want %q", tc.in, b, got, tc.wantDecoded)
		}
	}
	if b := appendString(nil, "\u2028"); string(b) != `"\u2028"` {
		t.Errorf(`appendString("\u2028") = %s, want "\u2028" escaped`, b)
	}
}

// TestAppendResponse: the body is valid JSON with every field, non-finite scores become
// null, and an empty answer has "items": [] rather than null.
func TestAppendResponse(t *testing.T) {
	tests := []struct {
		name string
		resp recommend.Response
		want string
	}{
		{"empty", recommend.Response{User: 3, Path: "fallback-popular"},
			`{"user":3,"items":[],"model_version":"","index_version":"","path":"fallback-popular","candidates":0,"timings_ms":{"retrieve":0.000,"features":0.000,"rank":0.000,"rerank":0.000,"total":1.500}}`},
		{"items", recommend.Response{User: 1, Items: []recommend.Item{{ID: 50, Score: 0.5}, {ID: 9, Score: 1e-7}, {ID: 2, Score: math.NaN()}, {ID: 4, Score: math.Inf(-1)}},
			ModelVersion: "m/v1", IndexVersion: "i/v2", Path: "personal", Candidates: 4,
			Timings: recommend.Timings{Retrieve: 412345 * time.Nanosecond, Features: time.Microsecond, Rank: 2 * time.Millisecond, Rerank: 999}},
			`{"user":1,"items":[{"id":50,"score":0.5},{"id":9,"score":1e-07},{"id":2,"score":null},{"id":4,"score":null}],"model_version":"m/v1","index_version":"i/v2","path":"personal","candidates":4,"timings_ms":{"retrieve":0.412,"features":0.001,"rank":2.000,"rerank":0.001,"total":1.500}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendResponse(nil, &tc.resp, 1500*time.Microsecond)
			if got := strings.TrimSuffix(string(b), "\n"); got != tc.want {
				t.Errorf("appendResponse = %s\nwant             %s", got, tc.want)
			}
			if !json.Valid(b) {
				t.Errorf("appendResponse = %s, not valid JSON", b)
			}
		})
	}
}

func TestAppendMillis(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000"},
		{499, "0.000"},
		{500, "0.001"},
		{412345, "0.412"},
		{412500, "0.413"},
		{999_999, "1.000"},
		{50 * time.Millisecond, "50.000"},
		{1234567890, "1234.568"},
		{-1500 * time.Microsecond, "-1.500"},
	}
	for _, tc := range tests {
		if got := string(appendMillis(nil, tc.d)); got != tc.want {
			t.Errorf("appendMillis(%d) = %q, want %q", int64(tc.d), got, tc.want)
		}
	}
}

func TestAppendServerTiming(t *testing.T) {
	tm := recommend.Timings{Retrieve: 412 * time.Microsecond, Features: 100 * time.Microsecond, Rank: 1250 * time.Microsecond, Rerank: 30 * time.Microsecond}
	got := string(appendServerTiming(nil, &tm, 1900*time.Microsecond))
	want := "retrieve;dur=0.412, features;dur=0.100, rank;dur=1.250, rerank;dur=0.030, total;dur=1.900"
	if got != want {
		t.Errorf("appendServerTiming = %q, want %q", got, want)
	}
}
