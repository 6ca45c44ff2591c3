package pacing

import "errors"

// The ledger returns these unwrapped on its hot path (Reserve, Confirm, Release), so that a
// refusal costs no allocation; compare with errors.Is all the same.
var (
	// ErrConfig reports a configuration that failed validation.
	ErrConfig = errors.New("pacing: invalid configuration")
	// ErrUnknownCampaign: the ledger has no budget for the campaign.
	ErrUnknownCampaign = errors.New("pacing: unknown campaign")
	// ErrPaused: the campaign is paused, so it may not commit spend.
	ErrPaused = errors.New("pacing: campaign paused")
	// ErrExhausted: committing the amount would take the campaign's committed plus billed
	// spend over its budget.
	ErrExhausted = errors.New("pacing: budget exhausted")
	// ErrAmount: an amount is negative, or a reservation is not positive.
	ErrAmount = errors.New("pacing: invalid amount")
	// ErrDuplicateReport: the impression was billed already; the repeated report bills
	// nothing.
	ErrDuplicateReport = errors.New("pacing: impression already billed")
	// ErrLate: the reservation expired or was released before the report came; the
	// impression is not billable.
	ErrLate = errors.New("pacing: reservation expired or released")
	// ErrUnknownReservation: the ledger never issued the reservation, or forgot it after
	// its window and retention.
	ErrUnknownReservation = errors.New("pacing: unknown reservation")
	// ErrExceedsReservation: the billed amount is more than the reservation committed; the
	// report is refused and the reservation stays open.
	ErrExceedsReservation = errors.New("pacing: actual cost exceeds the reservation")
)
