package config

import (
	"slices"
	"testing"
)

// TestUnknownEnv: a MYACCOUNT_* name no setting reads is reported (serve warns of it), once;
// the ones the configuration reads, the test suite's and other programs' variables are not.
func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{
		"MYACCOUNT_ISSUER=https://id.example", "MYACCOUNT_LISTEN_ADDR=:8080", "MYACCOUNT_MASTERKEY=x",
		"MYACCOUNT_MASTERKEY=y", "MYACCOUNT_TEST_POSTGRES_URL=postgres://", "PATH=/bin", "MYACCOUNT_DATA_DIR=",
	})
	if want := []string{"MYACCOUNT_LISTEN_ADDR", "MYACCOUNT_MASTERKEY"}; !slices.Equal(got, want) {
		t.Errorf("UnknownEnv = %v, want %v", got, want)
	}
}
