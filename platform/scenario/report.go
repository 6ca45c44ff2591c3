package scenario

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ReportDirEnv names the directory scenarios write their HTML reports to; unset, they go
// to casebook-reports in the system's temporary directory. `make demo` sets it to out/.
const ReportDirEnv = "CASEBOOK_REPORT_DIR"

// WriteReport creates name (a file name, such as "ads-report.html") in the report
// directory, fills it with write, and returns its path. A file that could not be written
// whole is removed, so a report on disk is always a complete one.
func WriteReport(name string, write func(io.Writer) error) (string, error) {
	dir := os.Getenv(ReportDirEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "casebook-reports")
	}
	if name == "" || filepath.Base(name) != name {
		return "", fmt.Errorf("report: %q is not a plain file name", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("report %s: %w", path, err)
	}
	return path, nil
}
