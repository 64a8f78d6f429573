package draw

import (
	"encoding/binary"
	"io"
	"math/rand"
)

// What the copied drawing code needs from the rest of base64Captcha (util.go,
// random_math.go and interface_item.go there).

// Item is a drawn captcha.
type Item interface {
	// WriteTo writes the encoded picture (PNG) or recording (WAV).
	WriteTo(w io.Writer) (n int64, err error)
}

// stringToFakeByte turns "123" into []byte{1, 2, 3}.
func stringToFakeByte(content string) []byte {
	digits := make([]byte, len(content))
	for idx, cc := range content {
		digits[idx] = byte(cc - '0')
	}
	return digits
}

func randIntRange(from, to int) int {
	// rand.Intn panics if n <= 0.
	if to-from <= 0 {
		return from
	}
	return rand.Intn(to-from) + from
}

func randFloat64Range(from, to float64) float64 {
	return rand.Float64()*(to-from) + from
}

// MIME types of what the items encode.
const (
	MimeTypeAudio = "audio/wav"
	MimeTypeImage = "image/png"
)

func randBytes(n int) []byte {
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
	}
	return b[:n]
}
