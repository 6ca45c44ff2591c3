package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
)

// DecodeTx reads a transaction or chargeback payload. Payloads written by TxEvent and
// LabelEvent (encoding/json of sim.Transaction: fixed keys in field order) take a fast
// path without reflection, since the scorer decodes every event on its one ordered
// goroutine; anything else, such as the same fields in another order or with spaces, goes
// through encoding/json, so the result never depends on the path
// (TestDecodeTxMatchesJSON).
func DecodeTx(data []byte) (sim.Transaction, error) {
	if tx, ok := decodeFast(data); ok {
		return tx, nil
	}
	var tx sim.Transaction
	if err := json.Unmarshal(data, &tx); err != nil {
		return sim.Transaction{}, fmt.Errorf("decode transaction: %w", err)
	}
	return tx, nil
}

// decodeFast parses exactly {"ID":n,"Time":"t","Customer":n,"Terminal":n,"Amount":f,
// "Seconds":n,"Day":n,"Fraud":b,"Scenario":n}; ok is false on any deviation.
func decodeFast(b []byte) (tx sim.Transaction, ok bool) {
	p := parser{b: b}
	var err error
	if !p.lit(`{"ID":`) {
		return tx, false
	}
	if tx.ID, ok = p.int(); !ok || !p.lit(`,"Time":"`) {
		return tx, false
	}
	end := bytes.IndexByte(p.b[p.i:], '"')
	if end < 0 {
		return tx, false
	}
	ts := p.b[p.i : p.i+end]
	if bytes.IndexByte(ts, '\\') >= 0 {
		return tx, false
	}
	if tx.Time, err = time.Parse(time.RFC3339Nano, string(ts)); err != nil {
		return tx, false
	}
	p.i += end + 1
	var n int64
	if !p.lit(`,"Customer":`) {
		return tx, false
	}
	if n, ok = p.int(); !ok {
		return tx, false
	}
	tx.Customer = int(n)
	if !p.lit(`,"Terminal":`) {
		return tx, false
	}
	if n, ok = p.int(); !ok {
		return tx, false
	}
	tx.Terminal = int(n)
	if !p.lit(`,"Amount":`) {
		return tx, false
	}
	if tx.Amount, ok = p.float(); !ok || !p.lit(`,"Seconds":`) {
		return tx, false
	}
	if tx.Seconds, ok = p.int(); !ok || !p.lit(`,"Day":`) {
		return tx, false
	}
	if n, ok = p.int(); !ok || !p.lit(`,"Fraud":`) {
		return tx, false
	}
	tx.Day = int(n)
	switch {
	case p.lit("true"):
		tx.Fraud = true
	case p.lit("false"):
	default:
		return tx, false
	}
	if !p.lit(`,"Scenario":`) {
		return tx, false
	}
	if n, ok = p.int(); !ok || !p.lit("}") || p.i != len(p.b) {
		return tx, false
	}
	tx.Scenario = int(n)
	return tx, true
}

type parser struct {
	b []byte
	i int
}

func (p *parser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// number returns the longest run of number characters at the position.
func (p *parser) number() []byte {
	j := p.i
	for j < len(p.b) {
		c := p.b[j]
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		j++
	}
	s := p.b[p.i:j]
	p.i = j
	return s
}

// jsonNumber rejects what strconv accepts but JSON does not: a leading '+' or '.', and a
// leading zero followed by a digit. encoding/json then says why.
func jsonNumber(s []byte) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	return len(s) > 0 && s[0] >= '0' && s[0] <= '9' && (s[0] != '0' || len(s) == 1 || s[1] < '0' || s[1] > '9')
}

func (p *parser) int() (int64, bool) {
	s := p.number()
	if !jsonNumber(s) {
		return 0, false
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	return v, err == nil
}

func (p *parser) float() (float64, bool) {
	s := p.number()
	if !jsonNumber(s) {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(s), 64)
	return v, err == nil
}
