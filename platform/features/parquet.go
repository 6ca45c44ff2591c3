package features

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// The Parquet layout of a view's partition file: one row per Row, columns entity (string),
// time (Unix ns), seq, and one optional column per feature named "f_" + feature name.
// A vector is a byte array of little-endian float32s: flat columns keep reads fast, and the
// dimension is in the view's definition.
type fileSchema struct {
	schema           *parquet.Schema
	entity, time, sq int
	cols             []int // per feature
	kinds            []Kind
}

func schemaFor(v *FeatureView) (*fileSchema, error) {
	g := parquet.Group{
		"entity": parquet.String(),
		"time":   parquet.Int(64),
		"seq":    parquet.Uint(64),
	}
	for _, f := range v.Features {
		var n parquet.Node
		switch f.Kind {
		case KindInt:
			n = parquet.Int(64)
		case KindFloat:
			n = parquet.Leaf(parquet.DoubleType)
		case KindString:
			n = parquet.String()
		case KindBool:
			n = parquet.Leaf(parquet.BooleanType)
		case KindVector:
			n = parquet.Leaf(parquet.ByteArrayType)
		default:
			return nil, fmt.Errorf("%w: feature %q has kind %s", ErrInvalidDefinition, f.Name, f.Kind)
		}
		g["f_"+f.Name] = parquet.Optional(n)
	}
	fs := &fileSchema{schema: parquet.NewSchema(v.Name, g)}
	col := func(name string) int {
		lc, _ := fs.schema.Lookup(name)
		return lc.ColumnIndex
	}
	fs.entity, fs.time, fs.sq = col("entity"), col("time"), col("seq")
	for _, f := range v.Features {
		fs.cols = append(fs.cols, col("f_"+f.Name))
		fs.kinds = append(fs.kinds, f.Kind)
	}
	return fs, nil
}

// writeParquet writes rows to path, which must not exist, through a temporary file so a
// crash never leaves a partial file under the final name. A non-nil seal encrypts the
// encoded file before it is written.
func writeParquet(path string, fs *fileSchema, rows []Row, rowGroup int, seal sealFunc) (err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	var dst io.Writer = f
	var plain *bytes.Buffer
	if seal != nil {
		plain = &bytes.Buffer{}
		dst = plain
	}
	w := parquet.NewWriter(dst, fs.schema, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(int64(rowGroup)))
	ncols := len(fs.schema.Columns())
	buf := make([]parquet.Row, 0, 512)
	var vecBuf []byte
	flush := func() error {
		if _, err := w.WriteRows(buf); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		buf, vecBuf = buf[:0], vecBuf[:0]
		return nil
	}
	for i := range rows {
		r := &rows[i]
		pr := make(parquet.Row, ncols)
		pr[fs.entity] = parquet.ByteArrayValue([]byte(r.Entity)).Level(0, 0, fs.entity)
		pr[fs.time] = parquet.Int64Value(r.Time.UnixNano()).Level(0, 0, fs.time)
		pr[fs.sq] = parquet.Int64Value(int64(r.Seq)).Level(0, 0, fs.sq)
		for j, c := range fs.cols {
			val := r.Values[j]
			var pv parquet.Value
			switch val.Kind() {
			case KindNull:
				pr[c] = parquet.NullValue().Level(0, 0, c)
				continue
			case KindInt:
				pv = parquet.Int64Value(val.Int())
			case KindFloat:
				pv = parquet.DoubleValue(val.Float())
			case KindString:
				pv = parquet.ByteArrayValue([]byte(val.Str()))
			case KindBool:
				pv = parquet.BooleanValue(val.Bool())
			case KindVector:
				start := len(vecBuf)
				for _, x := range val.Vector() {
					vecBuf = binary.LittleEndian.AppendUint32(vecBuf, math.Float32bits(x))
				}
				pv = parquet.ByteArrayValue(vecBuf[start:len(vecBuf):len(vecBuf)])
			}
			pr[c] = pv.Level(0, 1, c)
		}
		buf = append(buf, pr)
		if len(buf) == cap(buf) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("close writer %s: %w", path, err)
	}
	if plain != nil {
		sealed, err := seal(plain.Bytes())
		if err != nil {
			return fmt.Errorf("seal %s: %w", path, err)
		}
		if _, err := f.Write(sealed); err != nil {
			return fmt.Errorf("write %s: %w", tmp, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%w: %s", ErrPartitionExists, path)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("publish %s: %w", path, err)
	}
	return nil
}

// readParquet appends the rows of a file with from <= time < to (to == 0: no bound).
// open decides how the stored bytes become Parquet (opening a sealed file).
func readParquet(path string, fs *fileSchema, from, to int64, intern map[string]string, out []Row, open openFunc) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return out, fmt.Errorf("open partition file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return out, fmt.Errorf("stat %s: %w", path, err)
	}
	ra, size, err := open(f, st.Size())
	if err != nil {
		return out, fmt.Errorf("open %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(ra, size)
	if err != nil {
		return out, fmt.Errorf("open parquet %s: %w", path, err)
	}
	if n := pf.NumRows(); cap(out)-len(out) < int(n) {
		out = slices.Grow(out, int(n))
	}
	buf := make([]parquet.Row, 1024)
	nf := len(fs.cols)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, pr := range buf[:n] {
				t := pr[fs.time].Int64()
				if t < from || (to != 0 && t >= to) {
					continue
				}
				eb := pr[fs.entity].ByteArray()
				ent, ok := intern[string(eb)]
				if !ok {
					ent = string(eb)
					intern[ent] = ent
				}
				vals := make([]Value, nf)
				for j, c := range fs.cols {
					pv := pr[c]
					if pv.IsNull() {
						continue
					}
					switch fs.kinds[j] {
					case KindInt:
						vals[j] = Int(pv.Int64())
					case KindFloat:
						vals[j] = Float(pv.Double())
					case KindString:
						vals[j] = String(string(pv.ByteArray()))
					case KindBool:
						vals[j] = Bool(pv.Boolean())
					case KindVector:
						b := pv.ByteArray()
						vec := make([]float32, len(b)/4)
						for k := range vec {
							vec[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
						}
						vals[j] = Vector(vec)
					}
				}
				out = append(out, Row{Entity: ent, Time: unixUTC(t), Seq: uint64(pr[fs.sq].Int64()), Values: vals})
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return out, fmt.Errorf("read %s: %w", path, err)
			}
		}
		rows.Close()
	}
	return out, nil
}
