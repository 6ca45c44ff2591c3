package pipeline

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/casebook-ml/casebook/platform/ml"
)

// checkpoints is the on-disk state of the run in progress: one directory per pipeline,
// one file per completed step (written atomically), plus the training set's matrix.
type checkpoints struct {
	dir string
}

func (c checkpoints) path(name string) string { return filepath.Join(c.dir, name) }

func (c checkpoints) write(name string, data []byte) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), c.path(name))
}

func (c checkpoints) saveJSON(step string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return c.write(step+".json", b)
}

// loadJSON reports whether the step's checkpoint exists and decodes it.
func (c checkpoints) loadJSON(step string, v any) (bool, error) {
	b, err := os.ReadFile(c.path(step + ".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("checkpoint %s: %w", step, err)
	}
	return true, nil
}

// clear removes the run's checkpoints once it has completed.
func (c checkpoints) clear() error { return os.RemoveAll(c.dir) }

func encodeMatrix(d ml.Dataset) []byte {
	out := make([]byte, 16+8*(len(d.X)+len(d.Y)))
	binary.LittleEndian.PutUint64(out[0:], uint64(len(d.X)))
	binary.LittleEndian.PutUint64(out[8:], uint64(len(d.Y)))
	o := 16
	for _, vs := range [][]float64{d.X, d.Y} {
		for _, v := range vs {
			binary.LittleEndian.PutUint64(out[o:], math.Float64bits(v))
			o += 8
		}
	}
	return out
}

func decodeMatrix(b []byte, d *ml.Dataset) error {
	if len(b) < 16 {
		return errors.New("matrix checkpoint truncated")
	}
	nx, ny := binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])
	if uint64(len(b)) != 16+8*(nx+ny) {
		return errors.New("matrix checkpoint has the wrong length")
	}
	d.X, d.Y = make([]float64, nx), make([]float64, ny)
	o := 16
	for _, vs := range [][]float64{d.X, d.Y} {
		for i := range vs {
			vs[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[o:]))
			o += 8
		}
	}
	return nil
}
