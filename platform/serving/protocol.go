package serving

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
)

// The Open Inference Protocol (v2) REST shapes this server reads and writes. Only what a
// scoring model needs is modelled: typed tensors in, one FP64 score per row out.

// InferRequest is the body of POST /v2/models/{name}[/versions/{v}]/infer.
type InferRequest struct {
	ID         string          `json:"id,omitempty"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Inputs     []RequestInput  `json:"inputs"`
	Outputs    []RequestOutput `json:"outputs,omitempty"`
}

// RequestInput is one input tensor. Data is flat (row-major) or nested to the shape.
type RequestInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

// RequestOutput names an output the caller wants; this server has one, "score".
type RequestOutput struct {
	Name string `json:"name"`
}

// InferResponse is the body of a successful infer call.
type InferResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version,omitempty"`
	ID           string           `json:"id,omitempty"`
	Parameters   map[string]any   `json:"parameters,omitempty"`
	Outputs      []ResponseOutput `json:"outputs"`
}

// ResponseOutput is one output tensor.
type ResponseOutput struct {
	Name     string    `json:"name"`
	Shape    []int64   `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float64 `json:"data"`
}

// TensorMetadata describes an input or output in the model metadata response.
type TensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMetadata is the body of GET /v2/models/{name}[/versions/{v}].
type ModelMetadata struct {
	Name       string           `json:"name"`
	Versions   []string         `json:"versions,omitempty"`
	Platform   string           `json:"platform"`
	Inputs     []TensorMetadata `json:"inputs"`
	Outputs    []TensorMetadata `json:"outputs"`
	Parameters map[string]any   `json:"parameters,omitempty"`
}

// ErrorResponse is the protocol's error body.
type ErrorResponse struct {
	Error string `json:"error"`
}

// Decoded is an infer request turned into model input.
type Decoded struct {
	ID string
	// Rows is the number of candidate rows; X is Rows × features, row-major in the model's
	// schema order.
	Rows int
	X    []float64
	// RowIDs, when set (one per row), name each row's prediction record instead of
	// ID#row: an in-process caller scoring a batch of unrelated events (transactions)
	// joins outcomes by each event's own id. The HTTP protocol never sets it.
	RowIDs []string
	// EventTime, when set, is the time the prediction records carry instead of the time of
	// the call: an in-process caller scoring events (transactions, a replay) logs when each
	// happened, so outcomes join and windows slide in event time. The HTTP protocol never
	// sets it.
	EventTime time.Time
	// RowTimes, when set (one per row), is each row's event time, overriding EventTime:
	// a batch of unrelated events (transactions of different moments) logs each record at
	// its own event time. The HTTP protocol never sets it.
	RowTimes []time.Time
	// Key splits canary traffic ("key" parameter); Timeout is the "timeout_ms" parameter.
	Key     string
	Timeout time.Duration
}

// InputName is the one input tensor the model metadata declares: all features, shape
// [rows, features]. The per-feature form names each input after its feature instead.
const InputName = "input"

// MaxValues bounds the values one request may carry, whatever the byte limit.
const MaxValues = 1 << 22

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// DecodeInferRequest parses body as an infer request for a model with the given schema.
// It accepts one input named InputName of shape [rows, features] (or [features] for one
// row) in schema order, or one input per feature, named after it, of shape [rows] or
// [rows, 1]. An input the model does not declare, one given twice, or a feature left out
// is refused, as Triton refuses them. Every problem is an ErrBadRequest that says what is
// wrong; it never panics on any input (see FuzzDecodeInferRequest).
func DecodeInferRequest(body []byte, schema ml.Schema) (Decoded, error) {
	var req InferRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return Decoded{}, badRequest("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		// More() would let a stray '}' or ']' through: it reports no further element there.
		return Decoded{}, badRequest("trailing data after the JSON object")
	}
	d := Decoded{ID: req.ID}
	if err := d.readParameters(req.Parameters); err != nil {
		return Decoded{}, err
	}
	for _, o := range req.Outputs {
		if o.Name != "score" {
			return Decoded{}, badRequest("unknown output %q; this model has one output, \"score\"", o.Name)
		}
	}
	k := schema.Len()
	if k == 0 {
		return Decoded{}, badRequest("model has an empty schema")
	}
	switch {
	case len(req.Inputs) == 0:
		return Decoded{}, badRequest("no inputs")
	case len(req.Inputs) == 1 && req.Inputs[0].Name == InputName &&
		(k > 1 || schema.Features[0].Name != InputName || len(req.Inputs[0].Shape) == 2):
		in := req.Inputs[0]
		vals, err := readTensor(in)
		if err != nil {
			return Decoded{}, err
		}
		switch {
		case len(in.Shape) == 2 && in.Shape[1] == int64(k):
			d.Rows = int(in.Shape[0])
		case len(in.Shape) == 1 && in.Shape[0] == int64(k):
			d.Rows = 1
		default:
			return Decoded{}, badRequest("input %q has shape %v; want [rows, %d] (features %v)", in.Name, in.Shape, k, schema.Names())
		}
		d.X = vals
	default:
		d.Rows = -1
		seen := make([]bool, k)
		for _, in := range req.Inputs {
			j := schema.Index(in.Name)
			if j < 0 {
				return Decoded{}, badRequest("unknown input %q; the model declares %q of shape [rows, %d], or one input per feature of %v",
					in.Name, InputName, k, schema.Names())
			}
			if seen[j] {
				return Decoded{}, badRequest("input %q given twice", in.Name)
			}
			seen[j] = true
			if !(len(in.Shape) == 1 || (len(in.Shape) == 2 && in.Shape[1] == 1)) {
				return Decoded{}, badRequest("input %q has shape %v; want [rows] or [rows, 1]", in.Name, in.Shape)
			}
			vals, err := readTensor(in)
			if err != nil {
				return Decoded{}, err
			}
			if d.Rows < 0 {
				d.Rows = len(vals)
				d.X = make([]float64, d.Rows*k)
			} else if len(vals) != d.Rows {
				return Decoded{}, badRequest("input %q has %d rows, others have %d", in.Name, len(vals), d.Rows)
			}
			for i, v := range vals {
				d.X[i*k+j] = v
			}
		}
		if len(req.Inputs) < k {
			var missing []string
			for j, ok := range seen {
				if !ok {
					missing = append(missing, schema.Features[j].Name)
				}
			}
			return Decoded{}, badRequest("missing inputs %v; give one input per feature of %v, or one %q of shape [rows, %d]",
				missing, schema.Names(), InputName, k)
		}
	}
	if d.Rows <= 0 {
		return Decoded{}, badRequest("no rows")
	}
	return d, nil
}

func (d *Decoded) readParameters(p map[string]any) error {
	if v, ok := p["key"]; ok {
		switch k := v.(type) {
		case string:
			d.Key = k
		case float64:
			d.Key = strconv.FormatFloat(k, 'f', -1, 64)
		default:
			return badRequest("parameter key must be a string or number")
		}
	}
	if v, ok := p["timeout_ms"]; ok {
		ms, isNum := v.(float64)
		if !isNum || !(ms > 0) || ms > 600_000 {
			return badRequest("parameter timeout_ms must be a number in (0, 600000]")
		}
		d.Timeout = time.Duration(ms * float64(time.Millisecond))
	}
	return nil
}

func readTensor(in RequestInput) ([]float64, error) {
	n := int64(1)
	for _, s := range in.Shape {
		if s < 0 || s > MaxValues {
			return nil, badRequest("input %q: shape %v has a negative or huge dimension", in.Name, in.Shape)
		}
		n *= s
		if n > MaxValues {
			return nil, badRequest("input %q: shape %v holds more than %d values", in.Name, in.Shape, MaxValues)
		}
	}
	if len(in.Shape) == 0 {
		return nil, badRequest("input %q has no shape", in.Name)
	}
	conv, err := converter(in.Datatype)
	if err != nil {
		return nil, badRequest("input %q: %v", in.Name, err)
	}
	var vals []float64
	if in.Datatype == "BOOL" {
		var bs []bool
		if err := json.Unmarshal(in.Data, &bs); err != nil {
			if bs, err = flattenBools(in.Data); err != nil {
				return nil, badRequest("input %q: data is not a BOOL array: %v", in.Name, err)
			}
		}
		vals = make([]float64, len(bs))
		for i, b := range bs {
			if b {
				vals[i] = 1
			}
		}
	} else {
		if err := json.Unmarshal(in.Data, &vals); err != nil {
			if vals, err = flattenNumbers(in.Data); err != nil {
				return nil, badRequest("input %q: data is not a %s array: %v", in.Name, in.Datatype, err)
			}
		}
	}
	if int64(len(vals)) != n {
		return nil, badRequest("input %q: shape %v needs %d values, data has %d", in.Name, in.Shape, n, len(vals))
	}
	for i, v := range vals {
		c, err := conv(v)
		if err != nil {
			return nil, badRequest("input %q value %d (%v): %v", in.Name, i, v, err)
		}
		vals[i] = c
	}
	return vals, nil
}

// converter returns how a JSON number becomes a value of the datatype (as float64), or why
// it cannot.
func converter(dt string) (func(float64) (float64, error), error) {
	intRange := func(lo, hi float64) func(float64) (float64, error) {
		return func(v float64) (float64, error) {
			if v != math.Trunc(v) || v < lo || v > hi {
				return 0, fmt.Errorf("not an integer in [%v, %v]", lo, hi)
			}
			return v, nil
		}
	}
	switch dt {
	case "FP64":
		return finite, nil
	case "FP32":
		return func(v float64) (float64, error) { return finite(float64(float32(v))) }, nil
	case "FP16":
		return func(v float64) (float64, error) {
			if math.Abs(v) > 65504 {
				return 0, fmt.Errorf("overflows FP16 (non-finite)")
			}
			return finite(v)
		}, nil
	case "INT8":
		return intRange(math.MinInt8, math.MaxInt8), nil
	case "INT16":
		return intRange(math.MinInt16, math.MaxInt16), nil
	case "INT32":
		return intRange(math.MinInt32, math.MaxInt32), nil
	case "INT64":
		return intRange(-(1 << 53), 1<<53), nil
	case "UINT8":
		return intRange(0, math.MaxUint8), nil
	case "UINT16":
		return intRange(0, math.MaxUint16), nil
	case "UINT32":
		return intRange(0, math.MaxUint32), nil
	case "UINT64":
		return intRange(0, 1<<53), nil
	case "BOOL":
		return finite, nil
	case "BYTES":
		return nil, fmt.Errorf("datatype BYTES is not accepted by scoring models")
	}
	return nil, fmt.Errorf("unknown datatype %q", dt)
}

func finite(v float64) (float64, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("non-finite value")
	}
	return v, nil
}

// flattenNumbers reads a nested JSON array of numbers (the protocol allows data nested to
// the tensor's shape) into a flat slice.
func flattenNumbers(raw json.RawMessage) ([]float64, error) { return flatten[float64](raw) }

// flattenBools is flattenNumbers for BOOL tensors.
func flattenBools(raw json.RawMessage) ([]bool, error) { return flatten[bool](raw) }

// flatten reads a JSON array nested up to 8 deep whose leaves are all of type T (as
// encoding/json decodes them into an any: float64 for numbers, bool for booleans).
func flatten[T float64 | bool](raw json.RawMessage) ([]T, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var out []T
	var walk func(any, int) error
	walk = func(x any, depth int) error {
		if depth > 8 {
			return fmt.Errorf("nested deeper than 8")
		}
		switch t := x.(type) {
		case T:
			out = append(out, t)
		case []any:
			for _, e := range t {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("element of type %T", x)
		}
		return nil
	}
	if _, ok := v.([]any); !ok {
		return nil, fmt.Errorf("not an array")
	}
	return out, walk(v, 0)
}

// appendInferResponse writes the response body without reflection: it is on every
// request's path.
func appendInferResponse(b []byte, model string, version int, id, path string, scores []float64) []byte {
	b = append(b, `{"model_name":`...)
	b = strconv.AppendQuote(b, model)
	if version > 0 {
		b = append(b, `,"model_version":"`...)
		b = strconv.AppendInt(b, int64(version), 10)
		b = append(b, '"')
	}
	if id != "" {
		b = append(b, `,"id":`...)
		b = strconv.AppendQuote(b, id)
	}
	b = append(b, `,"parameters":{"path":"`...)
	b = append(b, path...)
	b = append(b, `"},"outputs":[{"name":"score","shape":[`...)
	b = strconv.AppendInt(b, int64(len(scores)), 10)
	b = append(b, `],"datatype":"FP64","data":[`...)
	for i, s := range scores {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, s, 'g', -1, 64)
	}
	return append(b, "]}]}"...)
}
