package features

import "context"

// ViewRows are rows for one view, as written by OnlineStore.Write.
type ViewRows struct {
	View string
	Rows []Row
}

// WriteReader is implemented by online stores that can apply writes and then answer a read
// in one round trip (Redis: one pipeline, whose commands run in order). A streaming
// feature pipeline that serves what it just wrote, such as a scorer deciding each event
// on the features that event produced, pays one round trip per batch instead of one per
// view plus one for the read. The outcome equals Write for each entry of writes in order,
// then Read(req).
type WriteReader interface {
	WriteRead(ctx context.Context, writes []ViewRows, req ReadRequest) (*ReadResult, error)
}

// WriteRead writes then reads through s, in one round trip when s is a WriteReader.
func WriteRead(ctx context.Context, s OnlineStore, writes []ViewRows, req ReadRequest) (*ReadResult, error) {
	if wr, ok := s.(WriteReader); ok {
		return wr.WriteRead(ctx, writes, req)
	}
	for _, w := range writes {
		if len(w.Rows) == 0 {
			continue
		}
		if _, err := s.Write(ctx, w.View, w.Rows); err != nil {
			return nil, err
		}
	}
	return s.Read(ctx, req)
}

// WriteReadInto is WriteRead into dst's memory where s can read into it (ReaderInto) and
// is not a WriteReader: a caller that writes and reads a batch at a time (the fraud
// scorer on the memory store) then reuses one result instead of allocating a table per
// batch. Otherwise it is WriteRead, and *dst takes its result.
func WriteReadInto(ctx context.Context, s OnlineStore, writes []ViewRows, req ReadRequest, dst *ReadResult) error {
	ri, into := s.(ReaderInto)
	if _, wr := s.(WriteReader); wr || !into {
		res, err := WriteRead(ctx, s, writes, req)
		if err != nil {
			return err
		}
		*dst = *res
		return nil
	}
	for _, w := range writes {
		if len(w.Rows) == 0 {
			continue
		}
		if _, err := s.Write(ctx, w.View, w.Rows); err != nil {
			return err
		}
	}
	return ri.ReadInto(ctx, req, dst)
}
