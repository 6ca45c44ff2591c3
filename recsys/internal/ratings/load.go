package ratings

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The rating scale MovieLens uses: whole stars 1–5 in ML-100K and ML-1M, half stars from
// 0.5 in ML-latest and ML-25M. A value outside it is refused rather than rescaled.
const (
	MinValue = 0.5
	MaxValue = 5
)

// maxLine bounds one line; a rating line is some 30 bytes, so a longer one means the
// input is not ratings at all.
const maxLine = 1 << 20

// LoadFile opens path and loads it with Load, naming errors after path.
func LoadFile(path string) ([]Rating, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load ratings: %w", err)
	}
	defer f.Close()
	return Load(f, path)
}

// Load reads ratings in one of three layouts, told apart by the first line:
//
//   - ML-100K u.data: user<TAB>item<TAB>rating<TAB>timestamp, no header;
//   - ML-1M ratings.dat: user::item::rating::timestamp, no header;
//   - CSV with a header (ML-latest, ML-25M): the columns are found by name, case-insensitive
//     (userId, user_id or user; movieId, movie_id, itemId, item_id or item; rating;
//     timestamp), in any order, other columns ignored. Without a rating column every row is
//     an implicit rating of 1; without a timestamp column Time is 0. Fields may be wrapped in
//     double quotes, but a quoted field cannot hold a comma.
//
// Line endings may be \n or \r\n, and a UTF-8 byte order mark is skipped. Nothing is
// dropped silently: a malformed line, a rating outside [MinValue, MaxValue], a negative id
// or timestamp, and a second rating of a (user, item) pair already rated (MovieLens has
// none, so a duplicate means a concatenation or export went wrong) are all refused with a
// *LineError naming name and the line. Blank lines are allowed only at the end of the
// input, where editors and exports leave them; a blank line followed by data is refused.
// An input with no rating at all is ErrEmpty.
func Load(r io.Reader, name string) ([]Rating, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		lay     *layout
		out     []Rating
		lineNo  int
		blankAt int
		fields  []string
	)
	for sc.Scan() {
		lineNo++
		line := sc.Text() // ScanLines has already dropped a \r before the \n
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if strings.TrimSpace(line) == "" {
			if blankAt == 0 {
				blankAt = lineNo
			}
			continue
		}
		if blankAt != 0 {
			return nil, firstError(out, name, &LineError{name, blankAt, ErrBlankLine,
				fmt.Sprintf("line %d has data after it; blank lines are allowed only at the end", lineNo)})
		}
		if lay == nil {
			l, isHeader, err := detect(line)
			if err != nil {
				return nil, firstError(out, name, &LineError{name, lineNo, kindOf(err), err.Error()})
			}
			lay = l
			if isHeader {
				continue
			}
		}
		fields = split(line, lay.sep, fields[:0])
		rt, err := lay.parse(fields)
		if err != nil {
			return nil, firstError(out, name, &LineError{name, lineNo, kindOf(err), err.Error()})
		}
		rt.Line = lineNo
		out = append(out, rt)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, firstError(out, name, &LineError{name, lineNo + 1, ErrLineLength, fmt.Sprintf("longer than %d bytes", maxLine)})
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := duplicate(out, name); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load %s: %w", name, ErrEmpty)
	}
	return out, nil
}

// firstError returns the error of the earliest bad line: a duplicate among the lines
// read before err's line, or err.
func firstError(read []Rating, name string, err *LineError) error {
	if dup := duplicate(read, name); dup != nil {
		return dup
	}
	return err
}

// duplicate reports the first line (in file order) that rates a (user, item) pair an
// earlier line rated. Sorting packed keys rather than filling a map keeps ML-25M's 25
// million rows at 8 bytes each.
func duplicate(rs []Rating, name string) error {
	small := true
	for _, r := range rs {
		if r.User >= 1<<32 || r.Item >= 1<<32 {
			small = false
			break
		}
	}
	var dups map[[2]int64]bool
	if small {
		keys := make([]uint64, len(rs))
		for i, r := range rs {
			keys[i] = uint64(r.User)<<32 | uint64(r.Item)
		}
		slices.Sort(keys)
		for i := 1; i < len(keys); i++ {
			if keys[i] == keys[i-1] {
				if dups == nil {
					dups = map[[2]int64]bool{}
				}
				dups[[2]int64{int64(keys[i] >> 32), int64(keys[i] & (1<<32 - 1))}] = true
			}
		}
	} else {
		seen := make(map[[2]int64]bool, len(rs))
		for _, r := range rs {
			k := [2]int64{r.User, r.Item}
			if seen[k] {
				if dups == nil {
					dups = map[[2]int64]bool{}
				}
				dups[k] = true
			}
			seen[k] = true
		}
	}
	if dups == nil {
		return nil
	}
	// Walk the file order once over the duplicated pairs only.
	first := map[[2]int64]int{}
	for _, r := range rs {
		k := [2]int64{r.User, r.Item}
		if !dups[k] {
			continue
		}
		if at, ok := first[k]; ok {
			return &LineError{name, r.Line, ErrDuplicate, fmt.Sprintf("user %d already rated item %d at line %d", r.User, r.Item, at)}
		}
		first[k] = r.Line
	}
	return nil
}

// kindedError carries the LineError kind from the parsers to Load.
type kindedError struct {
	kind   error
	reason string
}

func (e *kindedError) Error() string { return e.reason }

func bad(kind error, format string, args ...any) error {
	return &kindedError{kind, fmt.Sprintf(format, args...)}
}

func kindOf(err error) error {
	var k *kindedError
	if errors.As(err, &k) {
		return k.kind
	}
	return ErrMalformed
}

// layout says how to cut a line and which field holds what; -1 marks an absent column.
type layout struct {
	name                     string
	sep                      string
	nfields                  int
	user, item, rating, time int
}

var (
	layoutUData = layout{name: "u.data", sep: "\t", nfields: 4, user: 0, item: 1, rating: 2, time: 3}
	layoutML1M  = layout{name: "ratings.dat", sep: "::", nfields: 4, user: 0, item: 1, rating: 2, time: 3}
)

// Header names, lower-cased.
var (
	userNames   = []string{"userid", "user_id", "user"}
	itemNames   = []string{"movieid", "movie_id", "itemid", "item_id", "item"}
	ratingNames = []string{"rating"}
	timeNames   = []string{"timestamp"}
)

// detect tells the layout from the first line and says whether that line is a header.
func detect(line string) (*layout, bool, error) {
	switch {
	case strings.Contains(line, "::"):
		l := layoutML1M
		return &l, false, nil
	case strings.Contains(line, "\t"):
		l := layoutUData
		return &l, false, nil
	case strings.Contains(line, ","):
		l, err := csvLayout(split(line, ",", nil))
		return l, true, err
	}
	return nil, false, bad(ErrLayout, "%q: want user<TAB>item<TAB>rating<TAB>timestamp (ML-100K), "+
		"user::item::rating::timestamp (ML-1M) or a CSV header", clip(line))
}

func csvLayout(header []string) (*layout, error) {
	l := &layout{name: "csv", sep: ",", nfields: len(header), user: -1, item: -1, rating: -1, time: -1}
	for i, h := range header {
		h = strings.ToLower(h)
		for _, c := range []struct {
			what  string
			names []string
			col   *int
		}{{"user", userNames, &l.user}, {"item", itemNames, &l.item}, {"rating", ratingNames, &l.rating}, {"timestamp", timeNames, &l.time}} {
			for _, n := range c.names {
				if h != n {
					continue
				}
				if *c.col >= 0 {
					return nil, bad(ErrHeader, "columns %q and %q both name the %s column", header[*c.col], header[i], c.what)
				}
				*c.col = i
			}
		}
	}
	if l.user < 0 || l.item < 0 {
		if _, err := strconv.ParseFloat(header[0], 64); err == nil {
			return nil, bad(ErrHeader, "%v looks like data: CSV input needs a header naming the user and item columns", header)
		}
		return nil, bad(ErrHeader, "%v: want a user column (userId, user_id, user) and an item column "+
			"(movieId, movie_id, itemId, item_id, item)", header)
	}
	return l, nil
}

func (l *layout) parse(f []string) (Rating, error) {
	if len(f) != l.nfields {
		return Rating{}, bad(ErrFieldCount, "%d fields, want %d (%s layout): %q", len(f), l.nfields, l.name, f)
	}
	var r Rating
	var err error
	if r.User, err = parseID(f[l.user], "user"); err != nil {
		return r, err
	}
	if r.Item, err = parseID(f[l.item], "item"); err != nil {
		return r, err
	}
	r.Value = 1
	if l.rating >= 0 {
		s := f[l.rating]
		if r.Value, err = strconv.ParseFloat(s, 64); err != nil {
			return r, bad(ErrRating, "rating %q is not a number", s)
		}
		if math.IsNaN(r.Value) || r.Value < MinValue || r.Value > MaxValue {
			return r, bad(ErrRatingRange, "rating %q not in [%v, %v]", s, MinValue, MaxValue)
		}
	}
	if l.time >= 0 {
		s := f[l.time]
		if r.Time, err = strconv.ParseInt(s, 10, 64); err != nil || r.Time < 0 {
			return r, bad(ErrTimestamp, "timestamp %q is not a non-negative integer (Unix seconds)", s)
		}
	}
	return r, nil
}

func parseID(s, what string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, bad(ErrID, "%s id %q is not a non-negative integer", what, s)
	}
	return v, nil
}

// split cuts line at every sep into dst, trimming spaces and one pair of double quotes.
func split(line, sep string, dst []string) []string {
	for {
		i := strings.Index(line, sep)
		f := line
		if i >= 0 {
			f = line[:i]
		}
		f = strings.TrimSpace(f)
		if len(f) >= 2 && f[0] == '"' && f[len(f)-1] == '"' {
			f = f[1 : len(f)-1]
		}
		dst = append(dst, f)
		if i < 0 {
			return dst
		}
		line = line[i+len(sep):]
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
