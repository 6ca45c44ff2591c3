package openrtb

import "strconv"

// NoBidReason is the nbr code of a bid response that carries no bid. Codes below 500 are
// the standard list (OpenRTB 3.0 "List: No-Bid Reason Codes", which OpenRTB 2.6 cites for
// nbr); the spec leaves 500 and above to each exchange or bidder, to be agreed with the
// other side beforehand, and this bidder's own reasons live there.
type NoBidReason int

// Standard no-bid reasons. The names of 3 and 9 follow OpenRTB 3.0; OpenRTB 2.5 called
// them "known web spider" and "daily reader cap met", with the same numbers.
const (
	NoBidUnknownError       NoBidReason = 0
	NoBidTechnicalError     NoBidReason = 1
	NoBidInvalidRequest     NoBidReason = 2
	NoBidWebCrawler         NoBidReason = 3
	NoBidNonHumanTraffic    NoBidReason = 4
	NoBidProxyIP            NoBidReason = 5 // cloud, data center or proxy IP
	NoBidUnsupportedDevice  NoBidReason = 6
	NoBidBlockedPublisher   NoBidReason = 7 // blocked publisher or site
	NoBidUnmatchedUser      NoBidReason = 8
	NoBidDailyUserCap       NoBidReason = 9
	NoBidDailyDomainCap     NoBidReason = 10
	NoBidAdsTxtUnavailable  NoBidReason = 11
	NoBidAdsTxtViolation    NoBidReason = 12
	NoBidAdsCertUnavailable NoBidReason = 13
	NoBidAdsCertViolation   NoBidReason = 14
	// NoBidInsufficientTime ("insufficient auction time") is the standard code for a tmax
	// too small to try: the bidder answers it before doing any work when the exchange's
	// time budget cannot cover its own latency. It has no exchange-specific twin, because
	// every exchange already knows what 15 means.
	NoBidInsufficientTime       NoBidReason = 15
	NoBidIncompleteSupplyChain  NoBidReason = 16
	NoBidBlockedSupplyChainNode NoBidReason = 17
)

// firstExchangeSpecific is where the spec's reserved range for exchange-defined codes
// begins.
const firstExchangeSpecific NoBidReason = 500

// This bidder's own reasons, in the exchange-specific range. They say where in the
// pipeline the request died, which is what an operator looking at a no-bid rate wants.
const (
	// NoBidNoCandidates: no active ad's targeting admits the request (geo, device,
	// placement, segment, hour, size).
	NoBidNoCandidates NoBidReason = 500
	// NoBidBelowFloor: there were candidates, but none priced at or above the floor.
	NoBidBelowFloor NoBidReason = 501
	// NoBidBudgetExhausted: every candidate's campaign has spent its budget.
	NoBidBudgetExhausted NoBidReason = 502
	// NoBidPacedOut: candidates had budget left but pacing held them back on this request
	// to spread spend over the day.
	NoBidPacedOut NoBidReason = 503
	// NoBidDeadlineExceeded: the bidder started but ran out of its time budget before it
	// had a bid, and answering late would be worse than not bidding.
	NoBidDeadlineExceeded NoBidReason = 504
)

var reasonNames = [...]string{
	NoBidUnknownError:           "unknown error",
	NoBidTechnicalError:         "technical error",
	NoBidInvalidRequest:         "invalid request",
	NoBidWebCrawler:             "known web crawler",
	NoBidNonHumanTraffic:        "suspected non-human traffic",
	NoBidProxyIP:                "cloud, data center or proxy IP",
	NoBidUnsupportedDevice:      "unsupported device",
	NoBidBlockedPublisher:       "blocked publisher or site",
	NoBidUnmatchedUser:          "unmatched user",
	NoBidDailyUserCap:           "daily user cap met",
	NoBidDailyDomainCap:         "daily domain cap met",
	NoBidAdsTxtUnavailable:      "ads.txt authorization unavailable",
	NoBidAdsTxtViolation:        "ads.txt authorization violation",
	NoBidAdsCertUnavailable:     "ads.cert authentication unavailable",
	NoBidAdsCertViolation:       "ads.cert authentication violation",
	NoBidInsufficientTime:       "insufficient auction time",
	NoBidIncompleteSupplyChain:  "incomplete supply chain",
	NoBidBlockedSupplyChainNode: "blocked supply chain node",
}

var ownReasonNames = [...]string{
	NoBidNoCandidates - firstExchangeSpecific:     "no eligible candidates",
	NoBidBelowFloor - firstExchangeSpecific:       "all bids below floor",
	NoBidBudgetExhausted - firstExchangeSpecific:  "budgets exhausted",
	NoBidPacedOut - firstExchangeSpecific:         "paced out",
	NoBidDeadlineExceeded - firstExchangeSpecific: "deadline exceeded",
}

// String names the reason for logs and metrics labels. Codes nobody defined print as
// "no-bid reason N", or "exchange-specific reason N" at 500 and above.
func (r NoBidReason) String() string {
	switch {
	case r >= 0 && int(r) < len(reasonNames):
		return reasonNames[r]
	case r >= firstExchangeSpecific && int(r-firstExchangeSpecific) < len(ownReasonNames):
		return ownReasonNames[r-firstExchangeSpecific]
	case r >= firstExchangeSpecific:
		return "exchange-specific reason " + strconv.Itoa(int(r))
	}
	return "no-bid reason " + strconv.Itoa(int(r))
}

// ExchangeSpecific reports whether r is in the range the spec leaves to exchanges (500+).
func (r NoBidReason) ExchangeSpecific() bool { return r >= firstExchangeSpecific }
