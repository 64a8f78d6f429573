package geo

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	ru := map[time.Duration]string{
		time.Minute: "1 минуту", 2 * time.Minute: "2 минуты", 5 * time.Minute: "5 минут",
		11 * time.Minute: "11 минут", 14 * time.Minute: "14 минут", 22 * time.Minute: "22 минуты",
		time.Hour: "1 час", 3 * time.Hour: "3 часа", 12 * time.Hour: "12 часов",
		24 * time.Hour: "1 день", 2 * 24 * time.Hour: "2 дня", 5 * 24 * time.Hour: "5 дней",
		90 * time.Second: "2 минуты", // to the minute
	}
	for d, want := range ru {
		if got := FormatDuration(d, "ru"); got != want {
			t.Errorf("FormatDuration(%v, ru) = %q, want %q", d, got, want)
		}
	}
	if got := FormatDuration(90*time.Minute, "en"); got != "90 minutes" {
		t.Errorf("FormatDuration(90m, en) = %q", got)
	}
	for d, want := range map[time.Duration]string{
		// A link's time left, a moment after its period began, is the whole period.
		72*time.Hour - 5*time.Millisecond: "3 days", 120*time.Hour - 20*time.Second: "5 days",
		// Otherwise never more than there is.
		71*time.Hour + 30*time.Minute: "2 days", 25 * time.Hour: "25 hours", 3*time.Hour - time.Minute: "2 hours",
		90 * time.Minute: "90 minutes", time.Hour: "1 hour", 24 * time.Hour: "1 day", 10 * time.Second: "1 minute",
	} {
		if got := FormatDuration(d, "en"); got != want {
			t.Errorf("FormatDuration(%v, en) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "einen Tag", 5 * 24 * time.Hour: "5 Tage", time.Hour: "eine Stunde", 10 * time.Minute: "10 Minuten",
	} {
		if got := FormatDuration(d, "de"); got != want {
			t.Errorf("FormatDuration(%v, de) = %q, want %q", d, got, want)
		}
	}
}
