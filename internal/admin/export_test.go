package admin

// The counter keys, for tests that look at the stored counters.
var (
	TokenKey = tokenKey
	IPKey    = ipKey
)
