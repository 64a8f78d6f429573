package draw

import (
	"bytes"
	"image/png"
	"testing"
)

// The copied drivers draw a PNG of the asked size and say the digits in a WAV, in every
// language with recordings (an unknown one falls back to English).
func TestDrawings(t *testing.T) {
	item, err := NewDriverDigit(80, 260, 6, 0.7, 20).DrawCaptcha("012789")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := item.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(buf.Bytes()))
	if err != nil || cfg.Width != 260 || cfg.Height != 80 {
		t.Fatalf("picture: %v, %dx%d, want a 260x80 PNG", err, cfg.Width, cfg.Height)
	}
	for _, lang := range []string{"en", "de", "ru", "zh", "ja", "xx"} {
		item, err := NewDriverAudio(6, lang).DrawCaptcha("345601")
		if err != nil {
			t.Fatal(err)
		}
		buf.Reset()
		if _, err := item.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		// Six digits with pauses of 1-2 s at 8 kHz: at least 6 s of samples.
		if len(b) < 44+6*8000 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
			t.Errorf("%s: %d bytes, header %q: want a WAV of at least 6 s", lang, len(b), b[:12])
		}
	}
}
