package guard

import "time"

// Licence activation codes (issue 14). A code carries ~93 random bits, so guessing one is
// hopeless; the limits keep the redemption form from being used to probe for codes anyway,
// and make a typo storm visible. Every well-formed code counts, found or not, against both
// the account and the client IP.
const (
	// LicenceRedeemAccount: redemption attempts per account. Subject: the user id.
	LicenceRedeemAccount Rule = iota + 100
	// LicenceRedeemIP: redemption attempts per client IP, across accounts. Subject: the IP.
	LicenceRedeemIP
)

// licenceSpec describes the licence rules; spec consults it for rules it does not know.
func licenceSpec(r Rule) (spec, bool) {
	switch r {
	case LicenceRedeemAccount:
		return spec{"licence redeem per account", "licence-redeem-user:", time.Hour, 10, false}, true
	case LicenceRedeemIP:
		return spec{"licence redeem per ip", "licence-redeem-ip:", time.Hour, 30, false}, true
	}
	return spec{}, false
}
