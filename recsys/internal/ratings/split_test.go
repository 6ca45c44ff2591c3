package ratings

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// synthetic mirrors synthetic() in recsys/scripts/split_reference.py: u.data text of
// about 5,000 ratings over 300 items, with five hot items (~100 ratings each) and a tail of
// groups of 1 to 32 ratings, so half-even rounding (groups of 2, 6, 10…) is exercised.
func synthetic() string {
	var b strings.Builder
	seen := map[[2]int64]bool{}
	for k := range int64(5000) {
		h := (k * 2654435761) % (1 << 32)
		var item int64
		if k%10 == 0 {
			item = 1 + (h>>8)%5
		} else {
			item = 1 + int64(300*(1-math.Sqrt(1-float64(h)/(1<<32))))
		}
		user := 1 + (k*7919)%1000
		if seen[[2]int64{user, item}] {
			continue
		}
		seen[[2]int64{user, item}] = true
		fmt.Fprintf(&b, "%d\t%d\t%d\t%d\n", user, item, 1+(h>>3)%5, 880000000+37*k)
	}
	return b.String()
}

func lineDigest(rs []Rating) string {
	h := sha256.New()
	for _, r := range rs {
		fmt.Fprintf(h, "%d\n", r.Line)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// golden reads testdata/split_golden.txt, written by recsys/scripts/split_reference.py
// with numpy 1.24.2 and pandas 1.5.3: lines of a kind word and key=value fields.
func golden(t *testing.T) (lines [][]string, fields []map[string]string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "split_golden.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		w := strings.Fields(sc.Text())
		m := map[string]string{}
		for _, kv := range w[1:] {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		lines, fields = append(lines, w), append(fields, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, fields
}

// TestStratifiedSplitMatchesPandas checks the split row for row, in pandas' row order,
// against python_stratified_split's algorithm run by pandas 1.5.3 on numpy 1.24.2.
func TestStratifiedSplitMatchesPandas(t *testing.T) {
	text := synthetic()
	rs, err := Load(strings.NewReader(text), "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	lines, fields := golden(t)
	var splits int
	for i, w := range lines {
		f := fields[i]
		switch w[0] {
		case "input":
			if got := fmt.Sprintf("%x", sha256.Sum256([]byte(text))); got != f["sha256"] || strconv.Itoa(len(rs)) != f["rows"] {
				t.Fatalf("synthetic input: %d rows, sha256 %s; golden has %s rows, %s: synthetic() and split_reference.py disagree",
					len(rs), got, f["rows"], f["sha256"])
			}
		case "perm":
			n, _ := strconv.Atoi(f["n"])
			seed, _ := strconv.ParseUint(f["seed"], 10, 32)
			want := strings.Join(w[3:], " ")
			if got := strings.Trim(fmt.Sprint(legacyPermutation(n, uint32(seed))), "[]"); got != want {
				t.Errorf("legacyPermutation(%d, %d) = %s, numpy gives %s", n, seed, got, want)
			}
		case "split":
			splits++
			by := map[string]Group{"item": ByItem, "user": ByUser}[f["by"]]
			ratio, _ := strconv.ParseFloat(f["ratio"], 64)
			seed, _ := strconv.ParseUint(f["seed"], 10, 32)
			t.Run(strings.Join(w[1:4], " "), func(t *testing.T) {
				train, test := StratifiedSplit(rs, ratio, uint32(seed), by)
				got := fmt.Sprintf("train=%d test=%d train_sha256=%s test_sha256=%s",
					len(train), len(test), lineDigest(train), lineDigest(test))
				want := fmt.Sprintf("train=%s test=%s train_sha256=%s test_sha256=%s",
					f["train"], f["test"], f["train_sha256"], f["test_sha256"])
				if got != want {
					t.Errorf("StratifiedSplit(by %v, %v, %d):\n got %s\nwant %s (pandas)", by, ratio, seed, got, want)
				}
			})
		}
	}
	if splits == 0 {
		t.Fatal("golden file has no split line")
	}
}

func TestStratifiedSplitSmall(t *testing.T) {
	// Item 5 has 2 ratings (0.75·2 = 1.5 rounds to 2: all in train), item 3 has 6
	// (4.5 rounds to 4), item 9 has one (0.75 rounds to 1).
	var rs []Rating
	add := func(item int64, n int) {
		for range n {
			rs = append(rs, Rating{User: int64(len(rs)), Item: item, Value: 1, Line: len(rs) + 1})
		}
	}
	add(5, 2)
	add(3, 6)
	add(9, 1)
	train, test := StratifiedSplit(rs, 0.75, 42, ByItem)
	count := func(s []Rating) map[int64]int { return Set(s).CountByItem() }
	if got, want := count(train), map[int64]int{5: 2, 3: 4, 9: 1}; !maps.Equal(got, want) {
		t.Errorf("train counts = %v, want %v", got, want)
	}
	if got, want := count(test), map[int64]int{3: 2}; !maps.Equal(got, want) {
		t.Errorf("test counts = %v, want %v", got, want)
	}
	// Groups in ascending item order; within item 3 (rows 3..8) numpy's permutation of 6.
	perm6 := legacyPermutation(6, 42)
	var want []int
	want = append(want, 3+perm6[4], 3+perm6[5])
	var got []int
	for _, r := range test {
		got = append(got, r.Line)
	}
	if !slices.Equal(got, want) {
		t.Errorf("test lines = %v, want %v", got, want)
	}
	if train[0].Item != 3 || train[len(train)-1].Item != 9 {
		t.Errorf("train items run %d..%d, want ascending item order 3..9", train[0].Item, train[len(train)-1].Item)
	}
}

func TestStratifiedSplitPanics(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		by    Group
	}{{0, ByItem}, {1, ByItem}, {math.NaN(), ByUser}, {0.5, Group(7)}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("StratifiedSplit(ratio %v, %v) did not panic", tc.ratio, tc.by)
				}
			}()
			StratifiedSplit(nil, tc.ratio, 42, tc.by)
		}()
	}
}
