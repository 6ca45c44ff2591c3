package openrtb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
)

// DefaultMaxBytes is the body limit Decode applies when the caller passes none. Real bid
// requests are 1 to 10 KB; 64 KiB leaves room for generous ext objects while keeping what
// one request can make the bidder allocate small.
const DefaultMaxBytes = 64 << 10

// maxPooledBuffer bounds the read buffers kept for reuse, so one large body does not pin
// its buffer in the pool forever.
const maxPooledBuffer = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// Decode reads one bid request of at most maxBytes bytes (DefaultMaxBytes if maxBytes ≤ 0)
// from r, parses it and validates it. It never panics, whatever r holds. Errors wrap
// ErrTooLarge (the body is longer than maxBytes; also when r is an http.MaxBytesReader
// that gave up first), ErrMalformed (not one well-formed JSON value; the message gives
// line, column and byte offset), ErrInvalid (a *FieldError: a field of the wrong JSON type,
// or a value Validate refuses) or ErrRead (r failed).
//
// Unknown fields are ignored, as OpenRTB requires of receivers. One leniency comes from
// encoding/json and is kept: object keys match field names case-insensitively.
func Decode(r io.Reader, maxBytes int64) (*BidRequest, error) {
	req := new(BidRequest)
	if err := decodeInto(r, maxBytes, req, ErrInvalid); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeBytes is Decode for a body already in memory; it applies no size limit, which is
// the caller's to enforce. It does not retain data.
func DecodeBytes(data []byte) (*BidRequest, error) {
	req := new(BidRequest)
	if err := unmarshal(data, req, ErrInvalid); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return req, nil
}

// decodeInto reads the body into a pooled buffer and unmarshals it into v. Reusing the
// buffer is safe because encoding/json copies every string and RawMessage out of it.
func decodeInto(r io.Reader, maxBytes int64, v any, kind error) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	bp := bufPool.Get().(*[]byte)
	body, err := readBody(r, maxBytes, (*bp)[:0])
	if err == nil {
		err = unmarshal(body, v, kind)
	}
	if cap(body) <= maxPooledBuffer {
		*bp = body[:0]
		bufPool.Put(bp)
	}
	return err
}

// readBody appends r's contents to buf, reading at most limit+1 bytes so that an
// oversized body is detected without being held in full.
func readBody(r io.Reader, limit int64, buf []byte) ([]byte, error) {
	limit = min(limit, math.MaxInt64-1) // so that limit+1 below cannot overflow
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := cap(buf) - len(buf)
		if left := limit + 1 - int64(len(buf)); int64(room) > left {
			room = int(left)
		}
		n, err := r.Read(buf[len(buf) : len(buf)+room])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return buf, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, mbe.Limit)
			}
			return buf, fmt.Errorf("%w: after %d bytes: %w", ErrRead, len(buf), err)
		}
	}
}

// unmarshal parses data into v and turns encoding/json's errors into ours: a syntax
// error becomes ErrMalformed with the place it occurred, a type error a FieldError of the
// given kind naming the field.
func unmarshal(data []byte, v any, kind error) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if r, ok := v.(*BidRequest); ok {
		if decodeFast(data, r) {
			return nil
		}
		*r = BidRequest{} // what the fast path filled in before it gave up
	}
	if r, ok := v.(*BidResponse); ok {
		if decodeResponseFast(data, r) {
			return nil
		}
		*r = BidResponse{}
	}
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		if se.Offset >= int64(len(data)) && strings.Contains(se.Error(), "end of JSON input") {
			return fmt.Errorf("%w: %v at byte %d (truncated?)", ErrMalformed, se, len(data))
		}
		return fmt.Errorf("%w: %s: %v", ErrMalformed, position(data, se.Offset), se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		want := jsonKind(te.Type)
		if strings.HasPrefix(te.Value, "number") && (want == "integer" || want == "number") {
			want += " in range" // a number of the right kind that does not fit fails the same way
		}
		return fieldError(kind, field, "got JSON %s, want %s (%s)", te.Value, want, position(data, te.Offset))
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// position describes where encoding/json stopped. Its offsets count the bytes read, so
// the byte at fault is the one before the offset.
func position(data []byte, offset int64) string {
	at := int(min(max(offset-1, 0), int64(len(data))))
	line := 1 + bytes.Count(data[:at], []byte{'\n'})
	col := at - bytes.LastIndexByte(data[:at], '\n')
	return fmt.Sprintf("line %d, column %d (byte %d)", line, col, at)
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// jsonKind names the JSON type a Go type decodes from, for error messages that speak the
// client's language rather than Go's.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "something else"
	}
	if t == rawMessageType {
		return "any JSON value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return t.String()
}
