package server_test

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
)

// TestMain quiets zitadel/oidc, which logs protocol errors (expected in the attack tests)
// through the default logger; -v keeps them.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}
