// Package openrtb is the slice of OpenRTB 2.6 that the ad-auction case study speaks: the bid
// request fields the bidder reads (banner impressions with their sizes and floors, the site
// or app, the device, the user, tmax and the auction type), the bid response it answers,
// and the no-bid reason codes it gives when it does not bid. It is exported rather than
// internal because the load generator builds its requests from the same types, so the two
// sides cannot drift apart.
//
// Decode is the only way a request from the network should enter the bidder. It bounds the
// body, reports malformed JSON with the line and column where it broke, names the field of
// a type error, and then runs Validate, so the hot path can trust every field it reads
// (ids present, sizes positive, floors finite) without checking again. Every failure
// unwraps to one of the sentinels in errors.go, and StatusFor turns it into the HTTP status
// the server answers with, so every handler maps errors the same way.
//
// JSON names follow the IAB Tech Lab OpenRTB 2.6 specification. Fields outside the subset
// are ignored rather than refused: OpenRTB is extensible and exchanges send far more than
// any one bidder reads. Validation is stricter than the spec where this bidder cannot act
// on a valid request (it prices in USD only and serves banners only) and says so in its
// message. The no-bid reason codes are OpenRTB 3.0's list, which 2.6 refers to for nbr.
package openrtb
