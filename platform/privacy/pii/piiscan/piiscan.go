// Package piiscan is the generic half of a PII scan: the encodings a planted raw id could
// take on its way out of a system (Needles), and byte-for-byte searches of files, directory
// trees and buffers for them (Output). Each case study plants distinctive ids in its input,
// runs its live path and scans every output with it; the fraud, recsys and adsranking scans share it.
package piiscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Needle is one encoding of one planted id.
type Needle struct {
	What  string
	Bytes []byte
}

// Needles are the encodings a raw id could take on its way out: decimal (text, JSON numbers
// and strings, Parquet byte arrays, log lines, label values), hexadecimal, base 36 (compact
// text keys), and the 8-byte big- and little-endian integers and little-endian float64 of
// binary formats.
func Needles(ids []int64) []Needle {
	var out []Needle
	for _, id := range ids {
		d := strconv.FormatInt(id, 10)
		var be, le [8]byte
		binary.BigEndian.PutUint64(be[:], uint64(id))
		binary.LittleEndian.PutUint64(le[:], uint64(id))
		out = append(out,
			Needle{"decimal " + d, []byte(d)},
			Needle{"hex of " + d, []byte(strconv.FormatInt(id, 16))},
			Needle{"base 36 of " + d, []byte(strconv.FormatInt(id, 36))},
			Needle{"int64 big-endian " + d, be[:]},
			Needle{"int64 little-endian " + d, le[:]},
			Needle{"float64 " + d, binary.LittleEndian.AppendUint64(nil, math.Float64bits(float64(id)))},
		)
	}
	return out
}

// Ints converts int ids for Needles.
func Ints(ids []int) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}

// Output is one output scanned byte by byte.
type Output struct {
	Name string
	// Files counts the parts read: files, rows (decoded keys), metric families, or 1 (a
	// log buffer).
	Files int
	Bytes int64
	// Hits counts (planted id, encoding, part) triples found; Example names the first.
	Hits    int
	Example string
}

// Hit records one hit found outside a byte scan (a decoded key, say).
func (o *Output) Hit(example string) {
	if o.Hits == 0 {
		o.Example = example
	}
	o.Hits++
}

// Scan searches b (a part named where) for every needle.
func (o *Output) Scan(where string, b []byte, ns []Needle) {
	o.Bytes += int64(len(b))
	for _, n := range ns {
		if bytes.Contains(b, n.Bytes) {
			o.Hit(n.What + " in " + where)
		}
	}
}

// ScanDir reads every file under dir and searches it for every needle.
func ScanDir(name, dir string, ns []Needle) (Output, error) {
	out := Output{Name: name}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out.Files++
		rel, _ := filepath.Rel(dir, path)
		out.Scan(rel, b, ns)
		return nil
	})
	return out, err
}

// Total is the number of hits over outs.
func Total(outs []Output) int {
	n := 0
	for _, o := range outs {
		n += o.Hits
	}
	return n
}

// String is one line of a scan's report.
func (o Output) String() string {
	return fmt.Sprintf("%s: %d parts, %d bytes, %d hits %s", o.Name, o.Files, o.Bytes, o.Hits, o.Example)
}

// Clean is nil when every output was scanned (some bytes read) and none holds a planted id;
// otherwise it names each output that read nothing (a scan that cannot fail) or held ids.
func Clean(outs []Output) error {
	var errs []error
	for _, o := range outs {
		if o.Bytes == 0 {
			errs = append(errs, fmt.Errorf("%s: nothing scanned", o.Name))
		}
		if o.Hits != 0 {
			errs = append(errs, fmt.Errorf("%s: %d planted ids found, first: %s", o.Name, o.Hits, o.Example))
		}
	}
	return errors.Join(errs...)
}

// Buffer collects log lines (or anything written concurrently) for a scan.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// Bytes is a copy of what was written.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.b.Bytes()...)
}
