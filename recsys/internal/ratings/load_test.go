package ratings

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadLayouts(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []Rating
	}{
		{"u.data", []Rating{ // two trailing blank lines are allowed
			{196, 242, 3, 881250949, 1}, {186, 302, 3, 891717742, 2}, {22, 377, 1, 878887116, 3},
			{244, 51, 2, 880606923, 4}, {166, 346, 1, 886397596, 5},
		}},
		{"ratings.dat", []Rating{ // \r\n line endings
			{1, 1193, 5, 978300760, 1}, {1, 661, 3, 978302109, 2}, {2, 1357, 5, 978298709, 3},
		}},
		{"ratings.csv", []Rating{ // a byte order mark, half stars; the header is line 1
			{1, 1, 4, 964982703, 2}, {1, 3, 4, 964981247, 3}, {2, 318, 3.5, 1445714835, 4}, {3, 31, 0.5, 1306463578, 5},
		}},
		{"implicit.csv", []Rating{ // columns by name in any case and order, quotes, no rating or time
			{1, 10, 1, 0, 2}, {1, 11, 1, 0, 3}, {2, 10, 1, 0, 4},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := LoadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatalf("LoadFile(%s) = %v", tc.file, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("LoadFile(%s) = %v, want %v", tc.file, got, tc.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		kind error
		line int
	}{
		{"bad_fields.data", ErrFieldCount, 1},
		{"short_row.csv", ErrFieldCount, 2},
		{"bad_id.data", ErrID, 2},
		{"negative_id.dat", ErrID, 2},
		{"bad_rating.dat", ErrRating, 2},
		{"rating_range.csv", ErrRatingRange, 3},
		{"rating_zero.csv", ErrRatingRange, 3},
		{"bad_timestamp.data", ErrTimestamp, 1},
		{"duplicate.csv", ErrDuplicate, 4},
		{"blank_middle.data", ErrBlankLine, 2},
		{"blank_first.data", ErrBlankLine, 1},
		{"no_header.csv", ErrHeader, 1},
		{"bad_header.csv", ErrHeader, 1},
		{"dup_columns.csv", ErrHeader, 1},
		{"unknown_layout.txt", ErrLayout, 1},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			_, err := LoadFile(path)
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, tc.kind) {
				t.Fatalf("LoadFile(%s) = %v, want %v and %v", tc.file, err, ErrMalformed, tc.kind)
			}
			var le *LineError
			if !errors.As(err, &le) || le.Line != tc.line || le.File != path {
				t.Fatalf("LoadFile(%s) = %#v, want a *LineError at %s line %d", tc.file, err, path, tc.line)
			}
			t.Log(err)
		})
	}
}

func TestLoadEmpty(t *testing.T) {
	for _, file := range []string{"empty.data", "header_only.csv"} {
		if _, err := LoadFile(filepath.Join("testdata", file)); !errors.Is(err, ErrEmpty) {
			t.Errorf("LoadFile(%s) = %v, want %v", file, err, ErrEmpty)
		}
	}
	if _, err := LoadFile(filepath.Join("testdata", "missing.data")); err == nil {
		t.Errorf("LoadFile(missing.data) = nil error, want one")
	}
}

func TestLoadLongLine(t *testing.T) {
	in := "1\t2\t3\t4\n" + strings.Repeat("9", maxLine+1) + "\n"
	_, err := Load(strings.NewReader(in), "long")
	var le *LineError
	if !errors.Is(err, ErrLineLength) || !errors.As(err, &le) || le.Line != 2 {
		t.Errorf("Load(a %d-byte line 2) = %v, want %v at line 2", maxLine+1, err, ErrLineLength)
	}
}

func TestSet(t *testing.T) {
	s := Set{{User: 3, Item: 7}, {User: 1, Item: 9}, {User: 3, Item: 2}, {User: 2, Item: 7}}
	if got, want := s.Users(), []int64{1, 2, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("Users() = %v, want %v", got, want)
	}
	if got, want := s.Items(), []int64{2, 7, 9}; !reflect.DeepEqual(got, want) {
		t.Errorf("Items() = %v, want %v", got, want)
	}
	if got, want := s.ItemsByUser(), map[int64][]int64{3: {7, 2}, 1: {9}, 2: {7}}; !reflect.DeepEqual(got, want) {
		t.Errorf("ItemsByUser() = %v, want %v", got, want)
	}
	if got, want := s.CountByItem(), map[int64]int{7: 2, 9: 1, 2: 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("CountByItem() = %v, want %v", got, want)
	}
}

// The error names the first bad line in file order, a duplicate included.
func TestLoadFirstBadLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		kind     error
		line     int
	}{
		{"duplicate before a bad id", "1\t2\t3\t4\n1\t2\t3\t5\nx\t2\t3\t4\n", ErrDuplicate, 2},
		{"bad id before a duplicate", "1\t2\t3\t4\nx\t2\t3\t4\n1\t2\t3\t5\n", ErrID, 2},
		{"duplicate before a blank line", "1\t2\t3\t4\n1\t2\t3\t4\n\n1\t3\t3\t4\n", ErrDuplicate, 2},
		{"first of two duplicates", "1\t2\t3\t4\n7\t8\t3\t4\n7\t8\t3\t4\n1\t2\t3\t4\n", ErrDuplicate, 3},
		{"ids beyond 32 bits", "5000000000\t2\t3\t4\n1\t2\t3\t4\n5000000000\t2\t3\t5\n", ErrDuplicate, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tc.in), "in")
			var le *LineError
			if !errors.Is(err, tc.kind) || !errors.As(err, &le) || le.Line != tc.line {
				t.Errorf("Load(%q) = %v, want %v at line %d", tc.in, err, tc.kind, tc.line)
			}
		})
	}
}
