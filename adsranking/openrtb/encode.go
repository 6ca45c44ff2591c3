package openrtb

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// AppendResponse appends r as JSON to dst, followed by a newline, and returns it: the same
// bytes json.NewEncoder(w).Encode(r) writes (TestAppendResponseMatchesJSON), without
// reflection. The bidder's server encodes every answer with it. Like encoding/json it
// refuses a NaN or infinite price and an Ext that is not valid JSON.
func AppendResponse(dst []byte, r *BidResponse) ([]byte, error) {
	b := append(dst, `{"id":`...)
	b = AppendJSONString(b, r.ID)
	if len(r.SeatBid) > 0 {
		b = append(b, `,"seatbid":[`...)
		for i := range r.SeatBid {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendSeatBid(b, &r.SeatBid[i]); err != nil {
				return dst, err
			}
		}
		b = append(b, ']')
	}
	b = appendOptString(b, `,"bidid":`, r.BidID)
	b = appendOptString(b, `,"cur":`, r.Cur)
	if r.NBR != nil {
		b = append(b, `,"nbr":`...)
		b = strconv.AppendInt(b, int64(*r.NBR), 10)
	}
	b, err := appendExt(b, r.Ext)
	if err != nil {
		return dst, err
	}
	return append(b, '}', '\n'), nil
}

func appendSeatBid(b []byte, sb *SeatBid) ([]byte, error) {
	b = append(b, `{"bid":`...)
	if sb.Bid == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for j := range sb.Bid {
			if j > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendBid(b, &sb.Bid[j]); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	b = appendOptString(b, `,"seat":`, sb.Seat)
	b, err := appendExt(b, sb.Ext)
	return append(b, '}'), err
}

func appendBid(b []byte, x *Bid) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, x.ID)
	b = append(b, `,"impid":`...)
	b = AppendJSONString(b, x.ImpID)
	if math.IsNaN(x.Price) || math.IsInf(x.Price, 0) {
		return b, fmt.Errorf("json: unsupported value: %v", x.Price)
	}
	b = append(b, `,"price":`...)
	b = AppendJSONFloat(b, x.Price)
	b = appendOptString(b, `,"nurl":`, x.NURL)
	b = appendOptString(b, `,"burl":`, x.BURL)
	b = appendOptString(b, `,"lurl":`, x.LURL)
	b = appendOptString(b, `,"adm":`, x.Adm)
	b = appendOptString(b, `,"adid":`, x.AdID)
	if len(x.ADomain) > 0 {
		b = append(b, `,"adomain":[`...)
		for i, d := range x.ADomain {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, d)
		}
		b = append(b, ']')
	}
	b = appendOptString(b, `,"cid":`, x.CID)
	b = appendOptString(b, `,"crid":`, x.CrID)
	if x.W != 0 {
		b = append(b, `,"w":`...)
		b = strconv.AppendInt(b, int64(x.W), 10)
	}
	if x.H != 0 {
		b = append(b, `,"h":`...)
		b = strconv.AppendInt(b, int64(x.H), 10)
	}
	b, err := appendExt(b, x.Ext)
	return append(b, '}'), err
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return AppendJSONString(append(b, key...), s)
}

// appendExt appends `,"ext":` and raw as encoding/json would (compacted, HTML-escaped),
// nothing when raw is empty.
func appendExt(b []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return b, nil
	}
	b = append(b, `,"ext":`...)
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&':
			return appendMarshalled(b, raw)
		}
		if c >= 0x80 {
			return appendMarshalled(b, raw)
		}
	}
	if !json.Valid(raw) {
		return appendMarshalled(b, raw) // for encoding/json's error
	}
	return append(b, raw...), nil
}

func appendMarshalled(b []byte, v any) ([]byte, error) {
	q, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, q...), nil
}

// AppendJSONString appends s as a JSON string, as encoding/json writes it (HTML characters
// escaped); strings that need any escaping go through encoding/json itself.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSONFloat appends a finite f as encoding/json writes a float64: the shortest
// representation, in exponent form below 1e-6 and from 1e21. The caller rules out NaN and
// infinities, which JSON cannot carry.
func AppendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
