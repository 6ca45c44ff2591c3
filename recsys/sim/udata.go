package sim

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// WriteUData writes interactions in ML-100K's u.data layout (user, item, rating,
// timestamp, tab-separated, no header), so a synthetic log goes through the same loader
// and split as the real file.
func WriteUData(w io.Writer, xs []Interaction) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var buf []byte
	for _, x := range xs {
		buf = strconv.AppendInt(buf[:0], x.User, 10)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, x.Item, 10)
		buf = append(buf, '\t')
		buf = strconv.AppendFloat(buf, x.Rating, 'f', -1, 64)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, x.Time, 10)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("write u.data: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write u.data: %w", err)
	}
	return nil
}
