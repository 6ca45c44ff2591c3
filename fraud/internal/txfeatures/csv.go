package txfeatures

import (
	"bufio"
	"fmt"
	"io"
	"strconv"

	"github.com/casebook-ml/casebook/fraud/sim"
)

// SortByTime orders transactions by time, then id: the order the windows need.
func SortByTime(txs []sim.Transaction) { sim.SortByTime(txs) }

// WriteCSV writes the handbook's transformed table: the transaction columns, then the
// features after TX_AMOUNT in Names (TX_DURING_WEEKEND, ..., TERMINAL_ID_RISK_30DAY_WINDOW).
// x is the n×Width matrix of Offline.
func WriteCSV(w io.Writer, txs []sim.Transaction, x []float64, tf sim.TimeFormat) error {
	if len(x) != len(txs)*Width {
		return fmt.Errorf("write features: %d values for %d transactions", len(x), len(txs))
	}
	// The transaction columns come from sim's writer, one line per row, so both stay one format.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(sim.WriteCSV(pw, txs, tf)) }()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	bw := bufio.NewWriterSize(w, 1<<16)
	line := -1
	var buf []byte
	for sc.Scan() {
		buf = append(buf[:0], sc.Bytes()...)
		for j := 1; j < Width; j++ {
			buf = append(buf, ',')
			if line < 0 {
				buf = append(buf, Names[j]...)
			} else {
				buf = strconv.AppendFloat(buf, x[line*Width+j], 'f', -1, 64)
			}
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			pr.CloseWithError(err)
			return fmt.Errorf("write features: %w", err)
		}
		line++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("write features: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write features: %w", err)
	}
	return nil
}
