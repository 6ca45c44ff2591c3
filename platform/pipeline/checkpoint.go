package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
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

// setMagic heads a training-set checkpoint: the lengths of X, Y, the exposures and the
// reference probabilities, their values, then a sha256 of all that before it.
const setMagic = "casebook/trainingset/v2\n"

func encodeSet(ts TrainingSet) []byte {
	d := ts.Data
	cols := [][]float64{d.X, d.Y, d.Exposure, ts.Reference}
	n := 0
	for _, c := range cols {
		n += len(c)
	}
	out := make([]byte, len(setMagic)+8*len(cols)+8*n, len(setMagic)+8*len(cols)+8*n+sha256.Size)
	o := copy(out, setMagic)
	for _, c := range cols {
		binary.LittleEndian.PutUint64(out[o:], uint64(len(c)))
		o += 8
	}
	for _, c := range cols {
		for _, v := range c {
			binary.LittleEndian.PutUint64(out[o:], math.Float64bits(v))
			o += 8
		}
	}
	sum := sha256.Sum256(out)
	return append(out, sum[:]...)
}

// decodeSet fills ts's data, exposures and reference from a checkpoint (a column absent
// when it was written stays nil).
func decodeSet(b []byte, ts *TrainingSet) error {
	head := len(setMagic) + 8*4
	if len(b) < head+sha256.Size || string(b[:len(setMagic)]) != setMagic {
		return errors.New("training set checkpoint truncated or of another format")
	}
	body := b[:len(b)-sha256.Size]
	if sum := sha256.Sum256(body); string(sum[:]) != string(b[len(body):]) {
		return errors.New("training set checkpoint does not match its sha256")
	}
	var lens [4]uint64
	total := uint64(0)
	for i := range lens {
		lens[i] = binary.LittleEndian.Uint64(b[len(setMagic)+8*i:])
		total += lens[i]
	}
	if uint64(len(body)) != uint64(head)+8*total {
		return errors.New("training set checkpoint has the wrong length")
	}
	cols := make([][]float64, 4)
	o := head
	for i, n := range lens {
		if n == 0 {
			continue
		}
		cols[i] = make([]float64, n)
		for j := range cols[i] {
			cols[i][j] = math.Float64frombits(binary.LittleEndian.Uint64(b[o:]))
			o += 8
		}
	}
	ts.Data.X, ts.Data.Y, ts.Data.Exposure, ts.Reference = cols[0], cols[1], cols[2], cols[3]
	return nil
}
