package sim

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestCSVRoundTrip(t *testing.T) {
	d := generate(t, smallConfig())
	for _, tf := range []TimeFormat{TimeText, TimeUnixNano} {
		var buf bytes.Buffer
		if err := WriteCSV(&buf, d.Transactions, tf); err != nil {
			t.Fatalf("WriteCSV(format %d) = %v", tf, err)
		}
		got, err := ReadCSV(&buf)
		if err != nil {
			t.Fatalf("ReadCSV(WriteCSV(format %d)) = %v", tf, err)
		}
		if len(got) != len(d.Transactions) {
			t.Fatalf("format %d: read %d transactions, wrote %d", tf, len(got), len(d.Transactions))
		}
		for i := range got {
			if w := d.Transactions[i]; got[i] != w || !got[i].Time.Equal(w.Time) {
				t.Fatalf("format %d: row %d read %+v, wrote %+v", tf, i, got[i], w)
			}
		}
	}
}

func TestReadCSVLayouts(t *testing.T) {
	// Columns in another order, a pandas index column, no scenario, fractional seconds.
	in := ",TX_DATETIME,TRANSACTION_ID,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD\n" +
		"0,2018-04-01 00:00:31,0,596,3156,57.16,31,0,0\n" +
		"1,2018-04-01 00:02:10.5,1,4961,3412,81.51,130,0,1\n"
	got, err := ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ReadCSV = %v", err)
	}
	if len(got) != 2 || got[0].Customer != 596 || got[0].Terminal != 3156 || got[0].Amount != 57.16 ||
		got[0].Time.Format(DateTimeLayout) != "2018-04-01 00:00:31" || !got[1].Fraud || got[1].Scenario != 0 ||
		got[1].Time.Nanosecond() != 5e8 {
		t.Errorf("ReadCSV = %+v", got)
	}
}

func TestReadCSVErrors(t *testing.T) {
	header := strings.Join(Columns, ",") + "\n"
	good := "0,2018-04-01 00:00:31,596,3156,57.16,31,0,0,0\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "line 1: header"},
		{"missing column", "TRANSACTION_ID,TX_DATETIME\n", "lacks column CUSTOMER_ID"},
		{"bad amount", header + good + "1,2018-04-01 00:00:32,596,3156,12,5x,32,0,0,0\n", "line 3"},
		{"bad amount column", header + good + "1,2018-04-01 00:00:32,596,3156,abc,32,0,0,0\n", "column TX_AMOUNT"},
		{"bad date", header + "0,2018-13-01 00:00:31,596,3156,57.16,31,0,0,0\n", "line 2: column TX_DATETIME"},
		{"bad fraud", header + "0,2018-04-01 00:00:31,596,3156,57.16,31,0,2,0\n", "line 2: column TX_FRAUD"},
		{"bad customer", header + "0,2018-04-01 00:00:31,c596,3156,57.16,31,0,0,0\n", "line 2: column CUSTOMER_ID"},
		{"short row", header + "0,2018-04-01 00:00:31,596\n", "line 2"},
	} {
		_, err := ReadCSV(strings.NewReader(tc.in))
		if err == nil || !errors.Is(err, ErrCSV) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ReadCSV = %v, want an ErrCSV naming %q", tc.name, err, tc.want)
		}
	}
}
