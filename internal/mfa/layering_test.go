package mfa

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoHTTP holds DESIGN §2's rule for this package until the module's layering test lists
// it: the second-factor rules must not speak HTTP. (webauthnx is exempt: go-webauthn itself
// imports net/http.)
func TestNoHTTP(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if d == "net/http" || strings.HasPrefix(d, "net/http/") || strings.Contains(d, "go-webauthn") {
			t.Errorf("internal/mfa depends on %s", d)
		}
	}
}
