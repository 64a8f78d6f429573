package server_test

import (
	"net/http"
	"testing"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestLicenceRedeemStoreFailureIsNotCounted: a redemption the store failed to answer is ours
// (503) and uses up none of the person's attempts. After more failed redemptions than the
// hourly limit allows, the valid code is still accepted, not refused with 429.
func TestLicenceRedeemStoreFailureIsNotCounted(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newLicenceEnvWith(t, envOptions{wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	codes := e.issue("antivirus", 1, 30, 1)
	for i := 0; i < guard.LicenceRedeemAccount.Limit()+1; i++ {
		rule := fs.Add(faultstore.Rule{Method: "RedeemLicence", Err: faultstore.ErrInjected, Times: 1})
		p := e.redeem(codes[0].Code)
		if fs.Applied(rule) != 1 {
			t.Fatalf("attempt %d: the fault was not hit", i)
		}
		if p.status != http.StatusServiceUnavailable {
			t.Fatalf("attempt %d with RedeemLicence failing: %d, want 503", i, p.status)
		}
	}
	fs.Clear()
	if p := e.redeem(codes[0].Code); p.status != http.StatusOK {
		t.Fatalf("the valid code after our failures: %d, want 200 (our failures were counted against the person)", p.status)
	}
}
