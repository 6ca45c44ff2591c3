package sim

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
)

// Columns are the handbook's transaction columns, in its order.
var Columns = []string{
	"TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT",
	"TX_TIME_SECONDS", "TX_TIME_DAYS", "TX_FRAUD", "TX_FRAUD_SCENARIO",
}

// DateTimeLayout is the handbook's TX_DATETIME text format, in UTC.
const DateTimeLayout = "2006-01-02 15:04:05"

// TimeFormat chooses how WriteCSV writes TX_DATETIME.
type TimeFormat uint8

const (
	// TimeText writes "YYYY-MM-DD HH:MM:SS" (whole seconds, UTC), as the handbook does.
	TimeText TimeFormat = iota
	// TimeUnixNano writes Unix nanoseconds, which keeps sub-second times exact.
	TimeUnixNano
)

// ErrCSV marks a malformed CSV input; the wrapping error names the line and column.
var ErrCSV = errors.New("malformed transaction CSV")

// WriteCSV writes a header and one row per transaction. Amounts are written in the
// shortest form that reads back to the same float64, so a round trip is exact.
func WriteCSV(w io.Writer, txs []Transaction, tf TimeFormat) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := csv.NewWriter(bw)
	if err := cw.Write(Columns); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	rec := make([]string, len(Columns))
	for _, t := range txs {
		rec[0] = strconv.FormatInt(t.ID, 10)
		if tf == TimeUnixNano {
			rec[1] = strconv.FormatInt(t.Time.UnixNano(), 10)
		} else {
			rec[1] = t.Time.UTC().Format(DateTimeLayout)
		}
		rec[2] = strconv.Itoa(t.Customer)
		rec[3] = strconv.Itoa(t.Terminal)
		rec[4] = strconv.FormatFloat(t.Amount, 'f', -1, 64)
		rec[5] = strconv.FormatInt(t.Seconds, 10)
		rec[6] = strconv.Itoa(t.Day)
		rec[7] = "0"
		if t.Fraud {
			rec[7] = "1"
		}
		rec[8] = strconv.Itoa(t.Scenario)
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv transaction %d: %w", t.ID, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// ReadCSV reads transactions in the handbook's layout. Columns are found by header name, so
// their order is free and extra columns (such as a pandas index) are ignored; every column
// in Columns must be present. TX_DATETIME is either "YYYY-MM-DD HH:MM:SS" (UTC) or an
// integer of Unix nanoseconds. TX_FRAUD_SCENARIO may be absent (read as 0) because real
// data has none. A bad value is an error wrapping ErrCSV that names the line and column.
func ReadCSV(r io.Reader) ([]Transaction, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: line 1: header: %w", ErrCSV, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	idx := make([]int, len(Columns))
	for i, c := range Columns {
		j, ok := col[c]
		switch {
		case ok:
			idx[i] = j
		case c == "TX_FRAUD_SCENARIO":
			idx[i] = -1
		default:
			return nil, fmt.Errorf("%w: line 1: header lacks column %s (has %v)", ErrCSV, c, header)
		}
	}
	var txs []Transaction
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return txs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCSV, err)
		}
		line, _ := cr.FieldPos(0)
		t, err := parseRow(rec, idx)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrCSV, line, err)
		}
		txs = append(txs, t)
	}
}

func parseRow(rec []string, idx []int) (Transaction, error) {
	var t Transaction
	field := func(i int) string { return rec[idx[i]] }
	bad := func(i int, err error) error {
		return fmt.Errorf("column %s: %q: %w", Columns[i], field(i), err)
	}
	var err error
	if t.ID, err = strconv.ParseInt(field(0), 10, 64); err != nil {
		return t, bad(0, err)
	}
	if t.Time, err = ParseDateTime(field(1)); err != nil {
		return t, bad(1, err)
	}
	if t.Customer, err = strconv.Atoi(field(2)); err != nil {
		return t, bad(2, err)
	}
	if t.Terminal, err = strconv.Atoi(field(3)); err != nil {
		return t, bad(3, err)
	}
	if t.Amount, err = strconv.ParseFloat(field(4), 64); err != nil {
		return t, bad(4, err)
	}
	if t.Seconds, err = strconv.ParseInt(field(5), 10, 64); err != nil {
		return t, bad(5, err)
	}
	if t.Day, err = strconv.Atoi(field(6)); err != nil {
		return t, bad(6, err)
	}
	switch field(7) {
	case "0":
	case "1":
		t.Fraud = true
	default:
		return t, bad(7, errors.New("want 0 or 1"))
	}
	if idx[8] >= 0 {
		if t.Scenario, err = strconv.Atoi(field(8)); err != nil {
			return t, bad(8, err)
		}
	}
	return t, nil
}

// ParseDateTime reads TX_DATETIME in either of its formats: "YYYY-MM-DD HH:MM:SS" in UTC
// (pandas may add fractional seconds, which are kept) or integer Unix nanoseconds.
func ParseDateTime(s string) (time.Time, error) {
	if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(0, ns).UTC(), nil
	}
	t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want YYYY-MM-DD HH:MM:SS or Unix nanoseconds")
	}
	return t, nil
}

// SortByTime orders transactions by time, then id (the order the streaming path sees
// transactions of the same second in, and the order every reader of a CSV uses).
func SortByTime(txs []Transaction) {
	slices.SortStableFunc(txs, func(a, b Transaction) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// ReadCSVFile reads a transaction CSV (ReadCSV) from path and sorts it by time, then id.
func ReadCSVFile(path string) ([]Transaction, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read transactions: %w", err)
	}
	defer f.Close()
	txs, err := ReadCSV(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	SortByTime(txs)
	return txs, nil
}
