package serving

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

var schema3 = ml.FloatSchema("a", "b", "c")

func TestDecodeInferRequest(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		rows    int
		x       []float64
		key     string
		timeout time.Duration
		bad     bool
	}{
		{name: "row-major", body: `{"inputs":[{"name":"input","shape":[2,3],"datatype":"FP64","data":[1,2,3,4,5,6]}]}`, rows: 2, x: []float64{1, 2, 3, 4, 5, 6}},
		{name: "nested", body: `{"inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[4,5,6]]}]}`, rows: 2, x: []float64{1, 2, 3, 4, 5, 6}},
		{name: "one row as [k]", body: `{"inputs":[{"name":"input","shape":[3],"datatype":"INT32","data":[1,2,3]}]}`, rows: 1, x: []float64{1, 2, 3}},
		{name: "per-feature columns", body: `{"inputs":[{"name":"c","shape":[2],"datatype":"FP64","data":[3,6]},{"name":"a","shape":[2,1],"datatype":"FP64","data":[1,4]},{"name":"b","shape":[2],"datatype":"BOOL","data":[true,false]}]}`, rows: 2, x: []float64{1, 1, 3, 4, 0, 6}},
		{name: "parameters", body: `{"id":"r1","parameters":{"key":"user-7","timeout_ms":2.5},"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}`, rows: 1, x: []float64{1, 2, 3}, key: "user-7", timeout: 2500 * time.Microsecond},
		{name: "malformed JSON", body: `{"inputs":[`, bad: true},
		{name: "trailing data", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]} {}`, bad: true},
		{name: "trailing brace", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}}`, bad: true},
		{name: "no inputs", body: `{"inputs":[]}`, bad: true},
		{name: "wrong width", body: `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`, bad: true},
		{name: "shape/data mismatch", body: `{"inputs":[{"name":"input","shape":[2,3],"datatype":"FP64","data":[1,2,3]}]}`, bad: true},
		{name: "negative dim", body: `{"inputs":[{"name":"input","shape":[-1,3],"datatype":"FP64","data":[1,2,3]}]}`, bad: true},
		{name: "huge shape", body: `{"inputs":[{"name":"input","shape":[100000000,3],"datatype":"FP64","data":[1,2,3]}]}`, bad: true},
		{name: "FP32 overflow is non-finite", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1e39,2,3]}]}`, bad: true},
		{name: "FP64 out of range", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[1e400,2,3]}]}`, bad: true},
		{name: "NaN as string", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":["NaN",2,3]}]}`, bad: true},
		{name: "INT not integral", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"INT8","data":[1.5,2,3]}]}`, bad: true},
		{name: "INT8 out of range", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"INT8","data":[300,2,3]}]}`, bad: true},
		{name: "unknown datatype", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP8","data":[1,2,3]}]}`, bad: true},
		{name: "BYTES", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"BYTES","data":["a","b","c"]}]}`, bad: true},
		{name: "unknown feature", body: `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"FP64","data":[1]},{"name":"z","shape":[1],"datatype":"FP64","data":[1]}]}`, bad: true},
		{name: "duplicate feature", body: `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"FP64","data":[1]}]}`, bad: true},
		{name: "undeclared input name", body: `{"inputs":[{"name":"bogus","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}`, bad: true},
		{name: "undeclared name, one row", body: `{"inputs":[{"name":"bogus","shape":[3],"datatype":"FP64","data":[1,2,3]}]}`, bad: true},
		{name: "one feature column alone", body: `{"inputs":[{"name":"a","shape":[3],"datatype":"FP64","data":[1,2,3]}]}`, bad: true},
		{name: "missing feature", body: `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"c","shape":[1],"datatype":"FP64","data":[1]}]}`, bad: true},
		{name: "too many inputs", body: `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"FP64","data":[1]},{"name":"c","shape":[1],"datatype":"FP64","data":[1]},{"name":"input","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}`, bad: true},
		{name: "ragged columns", body: `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[2],"datatype":"FP64","data":[1,2]},{"name":"c","shape":[1],"datatype":"FP64","data":[1]}]}`, bad: true},
		{name: "unknown output", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[1,2,3]}],"outputs":[{"name":"logits"}]}`, bad: true},
		{name: "bad timeout", body: `{"parameters":{"timeout_ms":-1},"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}`, bad: true},
		{name: "zero rows", body: `{"inputs":[{"name":"input","shape":[0,3],"datatype":"FP64","data":[]}]}`, bad: true},
		{name: "deep nesting", body: `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[[[[[[[[[[1]]]]]]]]],2,3]}]}`, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DecodeInferRequest([]byte(tc.body), schema3)
			if tc.bad {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("DecodeInferRequest(%s) error = %v, want ErrBadRequest", tc.body, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeInferRequest(%s) error = %v", tc.body, err)
			}
			if d.Rows != tc.rows || !slices.Equal(d.X, tc.x) || d.Key != tc.key || d.Timeout != tc.timeout {
				t.Errorf("DecodeInferRequest(%s) = rows %d x %v key %q timeout %v, want rows %d x %v key %q timeout %v",
					tc.body, d.Rows, d.X, d.Key, d.Timeout, tc.rows, tc.x, tc.key, tc.timeout)
			}
		})
	}
}

// TestDecodeInferRequestNames: a refused input name is named in the message, with what the
// model declares instead, so a client can correct its request from the error alone.
func TestDecodeInferRequestNames(t *testing.T) {
	one := ml.FloatSchema("amount")
	tests := []struct {
		name   string
		schema ml.Schema
		body   string
		want   []string
	}{
		{"undeclared", schema3, `{"inputs":[{"name":"bogus","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}`, []string{`unknown input "bogus"`, `"input"`, "[rows, 3]", "[a b c]"}},
		{"undeclared, one feature", one, `{"inputs":[{"name":"bogus","shape":[2],"datatype":"FP64","data":[1,2]}]}`, []string{`unknown input "bogus"`, "[amount]"}},
		{"twice", schema3, `{"inputs":[{"name":"b","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"FP64","data":[1]},{"name":"a","shape":[1],"datatype":"FP64","data":[1]}]}`, []string{`input "b" given twice`}},
		{"missing", schema3, `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]}]}`, []string{"missing inputs [b c]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeInferRequest([]byte(tc.body), tc.schema)
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("DecodeInferRequest(%s) error = %v, want ErrBadRequest", tc.body, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("DecodeInferRequest(%s) error = %q, want it to contain %q", tc.body, err, w)
				}
			}
		})
	}
	// The one-feature model still takes its column by the feature's name, and "input".
	for _, body := range []string{
		`{"inputs":[{"name":"amount","shape":[2],"datatype":"FP64","data":[1,2]}]}`,
		`{"inputs":[{"name":"input","shape":[2,1],"datatype":"FP64","data":[1,2]}]}`,
	} {
		if d, err := DecodeInferRequest([]byte(body), one); err != nil || d.Rows != 2 {
			t.Errorf("DecodeInferRequest(%s) = rows %d, %v; want 2 rows", body, d.Rows, err)
		}
	}
}

// FuzzDecodeInferRequest: the decoder never panics, and whatever it accepts is a
// well-formed batch of finite values.
func FuzzDecodeInferRequest(f *testing.F) {
	for _, s := range []string{
		`{"inputs":[{"name":"input","shape":[2,3],"datatype":"FP64","data":[1,2,3,4,5,6]}]}`,
		`{"inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[4,5,6]]}]}`,
		`{"inputs":[{"name":"c","shape":[2],"datatype":"FP64","data":[3,6]},{"name":"a","shape":[2,1],"datatype":"FP64","data":[1,4]},{"name":"b","shape":[2],"datatype":"BOOL","data":[true,false]}]}`,
		`{"id":"x","parameters":{"key":1,"timeout_ms":5},"inputs":[{"name":"input","shape":[1,3],"datatype":"UINT8","data":[1,2,3]}]}`,
		`{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1e39,2,3]}]}`,
		`{"inputs":[{"name":"input","shape":[-1,3],"datatype":"FP64","data":[]}]}`,
		`{"inputs":[{"name":"bogus","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}`,
		`{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"a","shape":[1],"datatype":"FP64","data":[1]}]}`,
		`{"inputs":null}`, `[]`, `null`, ``, `{"inputs":[{"shape":[3]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := DecodeInferRequest(body, schema3)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("DecodeInferRequest error %v is not an ErrBadRequest", err)
			}
			return
		}
		if !declaredNames(body) {
			t.Fatalf("DecodeInferRequest accepted %q, which is not one JSON object or names an input the model does not declare", body)
		}
		if d.Rows <= 0 || len(d.X) != d.Rows*3 {
			t.Fatalf("DecodeInferRequest accepted rows %d with %d values", d.Rows, len(d.X))
		}
		for _, v := range d.X {
			if _, err := finite(v); err != nil {
				t.Fatalf("DecodeInferRequest accepted a non-finite value %v", v)
			}
		}
	})
}

// declaredNames reports whether every input of an accepted body is named "input" or after
// one of schema3's features: what the fuzzer checks that the decoder only accepts.
func declaredNames(body []byte) bool {
	var req InferRequest
	if json.Unmarshal(body, &req) != nil {
		return false // the decoder accepted what encoding/json refuses
	}
	for _, in := range req.Inputs {
		if in.Name != InputName && schema3.Index(in.Name) < 0 {
			return false
		}
	}
	return true
}
