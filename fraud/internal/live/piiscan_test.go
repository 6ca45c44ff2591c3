package live

import (
	"context"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/privacy/pii/piiscan"
)

// TestNoRawCustomerIDLeavesIngestion plants thirteen-digit customer ids in the simulation,
// runs the streaming path and scans every output for them in every encoding: none may
// appear, and the features joined on tokens equal those computed on the raw ids. The
// control run, with tokenization off, must find them (in the event log and the offline
// store at least), or the scan proves nothing.
func TestNoRawCustomerIDLeavesIngestion(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the streaming path twice")
	}
	ctx := context.Background()
	res, err := ScanPII(ctx, true, 100, 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := piiscan.Clean(res.Outputs); err != nil {
		t.Error(err)
	}
	if res.JoinMismatches != 0 || res.TrainingRows == 0 {
		t.Errorf("training set on tokens: %d rows, %d values differ from the raw-id features, want rows and none", res.TrainingRows, res.JoinMismatches)
	}
	if res.OnlineByToken == 0 || res.OnlineByRawID != 0 {
		t.Errorf("online store: %d customers found by token, %d by raw id; want some and none", res.OnlineByToken, res.OnlineByRawID)
	}

	if !strings.Contains(res.PIIPolicy, "HMAC-SHA256") {
		t.Errorf("the registered version's Privacy.PIIPolicy = %q, want the tokenization named", res.PIIPolicy)
	}

	ctl, err := ScanPII(ctx, false, 100, 30)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ctl.Outputs {
		t.Logf("control (raw ids): %s: %d hits in %d bytes (%s)", o.Name, o.Hits, o.Bytes, o.Example)
	}
	if ctl.Outputs[0].Hits == 0 {
		t.Errorf("control: the scan found no raw id in the event log, where they were published")
	}
	for _, o := range ctl.Outputs {
		if o.Name == "offline store (Parquet partitions, manifest)" && o.Hits == 0 {
			t.Errorf("control: the scan found no raw id in the offline store's Parquet files")
		}
	}
	if ctl.OnlineByRawID == 0 {
		t.Errorf("control: the online store holds no raw id; the lookup by raw id proves nothing")
	}
}
