package features

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/casebook-ml/casebook/platform/seal"
)

// Encryption at rest for the offline store. With OfflineConfig.Keyring set, each Parquet file
// is encoded in memory and sealed whole (AES-256-GCM, package seal) before it is written; the
// file's path relative to the store is the envelope's associated data, so two sealed files
// swapped on disk fail to open instead of answering for each other's day. The manifest
// (view definitions, file list, row counts, time ranges) stays in the clear. Reading a sealed
// file holds its plaintext in memory; a file in the clear is read as before, with or without
// a keyring (files written before encryption was turned on).

// sealFunc turns an encoded file into the bytes to store.
type sealFunc func(plain []byte) ([]byte, error)

// openFunc turns a stored file into a reader of Parquet bytes and their size.
type openFunc func(f io.ReaderAt, size int64) (io.ReaderAt, int64, error)

func partitionAAD(rel string) []byte {
	return []byte("casebook offline partition " + filepath.ToSlash(rel))
}

// sealerFor is nil (write in the clear) without a keyring.
func (o *OfflineStore) sealerFor(rel string) sealFunc {
	kr := o.cfg.Keyring
	if !kr.Enabled() {
		return nil
	}
	return func(plain []byte) ([]byte, error) { return kr.Seal(plain, partitionAAD(rel)) }
}

// opener reads sealed files with the keyring (a clear error naming the key when it cannot)
// and files in the clear as they are, unless the manifest says the file was sealed.
func (o *OfflineStore) opener(pf PartitionFile) openFunc {
	kr, rel := o.cfg.Keyring, pf.Path
	return func(f io.ReaderAt, size int64) (io.ReaderAt, int64, error) {
		head := make([]byte, 8)
		n, err := f.ReadAt(head, 0)
		if err != nil && err != io.EOF {
			return nil, 0, err
		}
		if !seal.IsSealed(head[:n]) {
			if pf.KeyID != "" {
				return nil, 0, fmt.Errorf("%w: the manifest records key %s but the file is not sealed", ErrCorruptPartition, pf.KeyID)
			}
			return f, size, nil
		}
		stored := make([]byte, size)
		if _, err := f.ReadAt(stored, 0); err != nil && err != io.EOF {
			return nil, 0, err
		}
		plain, err := kr.Open(stored, partitionAAD(rel))
		if err != nil {
			return nil, 0, fmt.Errorf("sealed partition file: %w", err)
		}
		return bytes.NewReader(plain), int64(len(plain)), nil
	}
}

// ErrCorruptPartition means a partition file is not what the manifest says it is (kept here,
// beside the only code that returns it).
var ErrCorruptPartition = errors.New("offline partition file corrupt")
