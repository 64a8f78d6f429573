package i18ntest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/i18n"
)

// recorder collects what the helpers report instead of failing this test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckCoverage(t *testing.T) {
	b, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	CheckCoverage(r, b, []string{"Sign in", "Save"})
	if len(r.errs) != 0 {
		t.Errorf("translated messages reported: %q", r.errs)
	}
	CheckCoverage(r, b, []string{"Sign in", `A "new" text`})
	if len(r.errs) != 2 || !strings.Contains(r.errs[0], "catalog/de.json lacks 1") ||
		!strings.Contains(r.errs[0], `"A \"new\" text"`) || !strings.Contains(r.errs[1], "catalog/ru.json") {
		t.Errorf("reports = %q", r.errs)
	}
}

func TestCheckUnused(t *testing.T) {
	b, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	CheckUnused(r, b, []string{"Sign in"})
	if len(r.errs) != 2 || !strings.Contains(r.errs[0], "no longer used") || !strings.Contains(r.errs[0], `"Save"`) ||
		strings.Contains(r.errs[0], `"Sign in"`) {
		t.Errorf("reports = %q", r.errs)
	}
}
