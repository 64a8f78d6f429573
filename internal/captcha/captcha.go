// Package captcha is the registration captcha: "type the numbers in the picture, or listen to
// them". It slows down scripted sign-ups without keeping any state in the process, so any
// instance can check a captcha that another one issued.
//
// # Design
//
// New draws a random answer, renders it as a PNG picture and as a WAV recording (the
// accessible alternative, for people who cannot see the picture), stores only a keyed hash
// of the answer in SQL, and returns the picture and recording to the page that asked. They
// cannot be fetched again later: the answer itself is never stored anywhere, so neither the
// database nor a second request can reproduce them. Pages embed them as data: URLs
// (Challenge.ImageDataURL, Challenge.AudioDataURL; the CSP allows img-src and media-src
// data:).
//
// Verify consumes the captcha whatever the answer (one guess per captcha), then compares the
// keyed hash of the normalised answer in constant time.
//
// # Answer alphabet: digits only
//
// Drawing and speech come from github.com/mojocn/base64Captcha's digit and audio drivers,
// copied into internal/captcha/draw (its in-memory store is not used; we supply the answer
// and keep state in SQL). Its audio driver can only say the
// digits 0-9 (in English, German, Russian, Chinese and Japanese), and the picture and the
// recording must carry the same answer, because the form has one field and one stored hash.
// So answers are digits. A mixed picture-letters/spoken-digits scheme would be no stronger:
// an attacker takes the easier path. With digits only there is nothing to confuse a 0 with,
// so all ten digits are used, and letters people type by mistake are read as the digits
// they resemble (O→0, I/L→1, Z→2, S→5, G→6, B→8). Six digits give a one-in-a-million
// chance per blind guess, and each captcha allows one guess; what a captcha really buys is
// cost for OCR and speech-recognition bots, not entropy.
//
// # Why a keyed hash
//
// A million possible answers are enumerated in milliseconds, so a plain SHA-256 in the
// captcha table would give the answers to anyone who can read it (a backup, a replica, a
// read-only SQL injection). The stored value is HMAC-SHA256 under a server secret (Key),
// bound to the captcha's id, so without the key a row says nothing about its answer.
package captcha

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/myaccount/myaccount/internal/fault"
	"html/template"
	"image/color"
	"io"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/myaccount/myaccount/internal/captcha/draw"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Store keeps captchas; storage.CaptchaStore satisfies it. It is declared here, where it is
// used, so tests and callers can pass anything with these two methods.
type Store interface {
	CreateCaptcha(ctx context.Context, c *storage.Captcha) error
	// ConsumeCaptcha marks the captcha used and returns it; storage.ErrNotFound,
	// storage.ErrAlreadyUsed and storage.ErrExpired report the obvious.
	ConsumeCaptcha(ctx context.Context, id string, now time.Time) (*storage.Captcha, error)
	// ReleaseCaptcha gives back the use ConsumeCaptcha made at usedAt.
	ReleaseCaptcha(ctx context.Context, id string, usedAt time.Time) error
}

// Defaults and bounds of the Service settings.
const (
	// DefaultTTL is how long a captcha can be answered: enough to fill in a registration
	// form at leisure, short enough that harvested captchas go stale.
	DefaultTTL = 10 * time.Minute
	// DefaultLength is the number of digits in an answer.
	DefaultLength = 6
	// MinLength and MaxLength bound Length: fewer than 4 digits is guessable, more than 12
	// is a memory test (the recording says one digit every one to two seconds).
	MinLength = 4
	MaxLength = 12
	// MinKeySize is the least Key length accepted: a 256-bit HMAC key.
	MinKeySize = 32
)

// Picture geometry: 80 px high and 40 px per digit plus margins. base64Captcha's digit
// driver needs this much room per digit to place the digits at random offsets (narrower
// images make it panic), and it keeps the digits about 40 px tall, readable on a phone.
const (
	imageHeight        = 80
	imageWidthPerDigit = 40
	imageMargin        = 40
	imageMaxSkew       = 0.7 // the library's default: digits lean, but stay legible
	imageDotCount      = 80  // background circles, the library's default
)

// hashContext separates this HMAC from any other use of the same key, and versions it.
const hashContext = "myaccount captcha v1"

// Errors of misconfiguration (a programming or deployment error, not a wrong answer).
var (
	ErrNoStore = errors.New("captcha: no store configured")
	ErrBadKey  = errors.New("captcha: key must be at least 32 bytes")
)

// ErrExpired: the captcha was answered after its TTL; the person should be told so (and get
// a new one), not that the answer was wrong.
var ErrExpired = errors.New("captcha: expired")

// ErrTooMany: this address (or this form) has asked for too many pictures, or answered too
// many wrongly; no captcha is issued or checked until the window passes.
var ErrTooMany = errors.New("captcha: too many attempts")

// Counters are the SQL counters limits are kept in (storage.CounterStore satisfies it), so
// they hold across instances and restarts.
type Counters interface {
	HitCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	CounterValue(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
}

// Limits bound what one client address can get out of captchas. Without them a new
// picture costs nothing: an OCR that reads one picture in twenty buys a registration with
// twenty reloads. A person needs a handful of pictures; an office behind one address a few
// dozen an hour.
type Limits struct {
	// NewPerAddress pictures per address per Window.
	NewPerAddress int
	// NewPerForm pictures per registration form (its first picture and the reloads).
	NewPerForm int
	// WrongPerAddress wrong answers per address per Window.
	WrongPerAddress int
	Window          time.Duration
}

// DefaultLimits: 60 pictures and 15 wrong answers per address per hour, 6 per form.
func DefaultLimits() Limits {
	return Limits{NewPerAddress: 60, NewPerForm: 6, WrongPerAddress: 15, Window: time.Hour}
}

// Service issues and verifies captchas. Fill in Store and Key; zero TTL, Length and Now
// take their defaults. It holds no mutable state and is safe for concurrent use.
type Service struct {
	Store Store
	// TTL is how long a captcha can be answered (DefaultTTL when zero).
	TTL time.Duration
	// Length is the number of digits (DefaultLength when zero; MinLength..MaxLength).
	Length int
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
	// Rand is where answers come from: crypto/rand when nil. Tests set a reader they watch, so
	// they know the answer the way an attacker cannot: nobody outside the process supplies
	// the server's randomness. Nothing else reads from it.
	Rand io.Reader
	// Counters keep the Limits; nil means no limits (tests of the captcha itself).
	Counters Counters
	// Limits; the zero value means DefaultLimits.
	Limits Limits
	// Key is the server secret the answer hashes are keyed with, at least 32 random bytes.
	// Every instance must share it; changing it invalidates the captchas in flight (which
	// only makes people solve another one).
	Key []byte
}

// Challenge is a fresh captcha to put in the page. Image and Audio exist only here: keep
// them with the page being rendered, they cannot be fetched again.
type Challenge struct {
	// ID goes in a hidden form field and comes back with the answer.
	ID string
	// Image is the picture of the answer, a PNG.
	Image []byte
	// Audio is the answer read aloud, an 8 kHz mono 8-bit PCM WAV (every browser plays it).
	// It is about 100-150 KB for six digits.
	Audio []byte
	// ExpiresAt is when the captcha stops being accepted.
	ExpiresAt time.Time
}

// ImageDataURL returns Image as a data:image/png;base64 URL for an <img src>. The type is
// template.URL because html/template otherwise replaces data: URLs with "#ZgotmplZ"; that
// is safe here because the URL is built from our own bytes, never from input.
func (c *Challenge) ImageDataURL() template.URL {
	return dataURL("image/png", c.Image)
}

// AudioDataURL returns Audio as a data:audio/wav;base64 URL for an <audio src> (the CSP
// needs media-src data:). See ImageDataURL for the type.
func (c *Challenge) AudioDataURL() template.URL {
	return dataURL("audio/wav", c.Audio)
}

func dataURL(mime string, b []byte) template.URL {
	return template.URL("data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(b))
}

// New issues a captcha with the recording in English. See NewInLanguage.
func (s *Service) New(ctx context.Context) (*Challenge, error) {
	return s.NewInLanguage(ctx, "en")
}

// NewInLanguage issues a captcha whose recording reads the digits in lang, a BCP 47 tag
// such as "de" or "de-CH" (English, German, Russian, Chinese and Japanese are available;
// anything else gets English). The picture is the same in every language.
func (s *Service) NewInLanguage(ctx context.Context, lang string) (*Challenge, error) {
	ch, _, err := s.newChallenge(ctx, lang)
	return ch, err
}

// Pass is a captcha the person has already solved, carried by a form that has to be sent
// again for other reasons (a password that does not match): the form holds the id and the
// answer, so the person is not asked twice, and the pass is still single use and expires
// like any captcha. Its answer is 12 random digits: as hard to guess as a captcha is to
// solve is not enough here, since the pass needs no solving at all.
type Pass struct {
	ID, Answer string
}

// NewPass issues a Pass. Call it only after a Verify that succeeded.
func (s *Service) NewPass(ctx context.Context) (*Pass, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	answer, err := Digits(rand.Reader, MaxLength)
	if err != nil {
		return nil, fmt.Errorf("captcha: pass: %w", err)
	}
	now := s.now()
	c := &storage.Captcha{ID: secret.NewID(), CreatedAt: now, ExpiresAt: now.Add(s.ttl())}
	c.AnswerHash = s.hash(c.ID, answer)
	if err := s.Store.CreateCaptcha(ctx, c); err != nil {
		return nil, fmt.Errorf("captcha: store pass: %w", err)
	}
	return &Pass{ID: c.ID, Answer: answer}, nil
}

// NewFor issues a captcha for a client address and a registration form (form is a random
// id the form carries through its reloads; "" for none), within the Limits.
func (s *Service) NewFor(ctx context.Context, lang, addr, form string) (*Challenge, error) {
	l := s.limits()
	if err := s.within(ctx, "captcha-new:"+addr, l.NewPerAddress, true); err != nil {
		return nil, err
	}
	if form != "" {
		if err := s.within(ctx, "captcha-form:"+form, l.NewPerForm, true); err != nil {
			return nil, err
		}
	}
	return s.NewInLanguage(ctx, lang)
}

// VerifyFrom is Verify for a client address: an address with too many wrong answers gets
// ErrTooMany (the captcha is used up all the same), and a wrong answer counts. A failure to
// read the count is ours: it is returned before the captcha is used, so that the person's
// answer still stands when they send the form again.
func (s *Service) VerifyFrom(ctx context.Context, id, answer, addr string) (bool, error) {
	blocked := s.within(ctx, "captcha-wrong:"+addr, s.limits().WrongPerAddress, false)
	if blocked != nil && !errors.Is(blocked, ErrTooMany) {
		return false, blocked
	}
	ok, err := s.Verify(ctx, id, answer)
	if err != nil {
		return false, err // an expired captcha is no wrong answer: not counted
	}
	if blocked != nil {
		return false, blocked
	}
	if !ok && s.Counters != nil {
		if _, err := s.Counters.HitCounter(ctx, "captcha-wrong:"+addr, s.limits().Window, s.now()); err != nil {
			return false, fmt.Errorf("captcha: count wrong answer: %w", err)
		}
	}
	return ok, nil
}

// within checks (hit: counts and checks) the counter key against max.
func (s *Service) within(ctx context.Context, key string, max int, hit bool) error {
	if s.Counters == nil {
		return nil
	}
	l := s.limits()
	var n int
	var err error
	if hit {
		n, err = s.Counters.HitCounter(ctx, key, l.Window, s.now())
	} else {
		n, err = s.Counters.CounterValue(ctx, key, l.Window, s.now())
		n++ // the attempt being made
	}
	if err != nil {
		return fmt.Errorf("captcha: count: %w", err)
	}
	if n > max {
		return ErrTooMany
	}
	return nil
}

func (s *Service) limits() Limits {
	if s.Limits.Window <= 0 {
		return DefaultLimits()
	}
	return s.Limits
}

// newChallenge does the work of New and also returns the answer, which only tests see.
func (s *Service) newChallenge(ctx context.Context, lang string) (*Challenge, string, error) {
	if err := s.check(); err != nil {
		return nil, "", err
	}
	length := s.length()
	src := s.Rand
	if src == nil {
		src = rand.Reader
	}
	answer, err := Digits(src, length)
	if err != nil {
		return nil, "", fmt.Errorf("captcha: answer: %w", err)
	}

	img, err := render(draw.NewDriverDigit(imageHeight, imageMargin+imageWidthPerDigit*length, length, imageMaxSkew, imageDotCount), answer)
	if err != nil {
		return nil, "", fmt.Errorf("captcha: draw picture: %w", err)
	}
	audio, err := render(draw.NewDriverAudio(length, audioLanguage(lang)), answer)
	if err != nil {
		return nil, "", fmt.Errorf("captcha: record audio: %w", err)
	}

	now := s.now()
	c := &storage.Captcha{
		ID:        secret.NewID(),
		CreatedAt: now,
		ExpiresAt: now.Add(s.ttl()),
	}
	c.AnswerHash = s.hash(c.ID, answer)
	if err := s.Store.CreateCaptcha(ctx, c); err != nil {
		return nil, "", fmt.Errorf("captcha: store: %w", err)
	}
	return &Challenge{ID: c.ID, Image: img, Audio: audio, ExpiresAt: c.ExpiresAt}, answer, nil
}

// Verify reports whether answer solves captcha id. The captcha is used up by this call
// whether the answer is right or wrong, so every captcha allows exactly one guess. Unknown,
// already used and expired captchas are simply false; an error means the store failed (or
// the Service is misconfigured), and the caller should treat the captcha as unsolved.
func (s *Service) Verify(ctx context.Context, id, answer string) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if id == "" {
		return false, nil
	}
	now := s.now()
	c, err := s.Store.ConsumeCaptcha(ctx, id, now)
	switch {
	case errors.Is(err, storage.ErrExpired):
		return false, ErrExpired
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrAlreadyUsed):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("captcha: consume: %w", err)
	}
	// The store checks expiry too; checking here keeps a store that forgets from
	// accepting stale captchas.
	if c == nil {
		return false, nil
	}
	if !now.Before(c.ExpiresAt) {
		return false, ErrExpired
	}
	got := Normalize(answer)
	if got == "" || len(got) > MaxLength {
		return false, nil
	}
	if !secret.Equal(s.hash(c.ID, got), c.AnswerHash) {
		return false, nil
	}
	// A right answer whose request then fails on our side is given back (a wrong one stays
	// spent): the form sent again is not told its numbers were wrong. It still admits one
	// request that succeeds.
	store := s.Store
	fault.OnFailure(ctx, func(ctx context.Context) error { return store.ReleaseCaptcha(ctx, id, now) })
	return true, nil
}

// Normalize turns what a person typed into the form answers are hashed in: NFKC (so
// full-width digits from an East Asian keyboard count), without spaces, hyphens and dots,
// upper case, and the letters that look like digits read as those digits.
func Normalize(answer string) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(answer) {
		switch {
		case unicode.IsSpace(r), r == '-', r == '.', r == '_':
			continue
		}
		r = unicode.ToUpper(r)
		switch r {
		case 'O', 'Q', 'D':
			r = '0'
		case 'I', 'L', '|':
			r = '1'
		case 'Z':
			r = '2'
		case 'S':
			r = '5'
		case 'G':
			r = '6'
		case 'B':
			r = '8'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hash is the stored form of an answer: hex HMAC-SHA256 under Key of the context string, the
// captcha id and the normalised answer. Binding the id means equal answers give unrelated
// hashes and a hash copied to another row is worthless.
func (s *Service) hash(id, answer string) string {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte(hashContext))
	m.Write([]byte{0})
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(answer))
	return hex.EncodeToString(m.Sum(nil))
}

// check reports misconfiguration, so it fails the first request loudly instead of storing
// hashes under an empty key.
func (s *Service) check() error {
	switch {
	case s.Store == nil:
		return ErrNoStore
	case len(s.Key) < MinKeySize:
		return ErrBadKey
	case s.Length != 0 && (s.Length < MinLength || s.Length > MaxLength):
		return fmt.Errorf("captcha: length %d out of range [%d, %d]", s.Length, MinLength, MaxLength)
	case s.TTL < 0:
		return fmt.Errorf("captcha: negative TTL %v", s.TTL)
	}
	return nil
}

func (s *Service) length() int {
	if s.Length == 0 {
		return DefaultLength
	}
	return s.Length
}

func (s *Service) ttl() time.Duration {
	if s.TTL == 0 {
		return DefaultTTL
	}
	return s.TTL
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Digits draws n uniformly random decimal digits from r, one byte at a time (base64Captcha's
// own generators use math/rand for some choices; the answer must not be predictable, so the
// Service passes crypto/rand). Exported so a test that watches the bytes the Service read can
// compute the answer it drew.
func Digits(r io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	var b [1]byte
	for len(out) < n {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", err
		}
		// 250 is the largest multiple of 10 below 256: rejecting 250..255 keeps every digit
		// equally likely.
		if b[0] < 250 {
			out = append(out, '0'+b[0]%10)
		}
	}
	return string(out), nil
}

// audioLanguage maps a BCP 47 tag to one of the languages base64Captcha has recordings of
// digits in, English when it has none.
func audioLanguage(tag string) string {
	base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
	base, _, _ = strings.Cut(base, "_")
	switch base {
	case "en", "de", "ru", "zh", "ja":
		return base
	}
	return "en"
}

// render draws answer with a base64Captcha driver and encodes it. The library signals some
// failures (PNG encoding, out-of-range geometry) by panicking; render turns that into an
// error so one bad captcha fails one request, not the process.
func render(d interface {
	DrawCaptcha(string) (draw.Item, error)
}, answer string) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("base64Captcha panicked: %v", r)
		}
	}()
	item, err := d.DrawCaptcha(answer)
	if err != nil {
		return nil, err
	}
	if img, ok := item.(*draw.ItemDigit); ok && len(img.Palette) > 0 {
		// The digit driver paints on a transparent background with dark digits, which
		// vanish on a dark-mode page; an opaque white background reads everywhere.
		img.Palette[0] = color.White
	}
	var buf bytes.Buffer
	if _, err := item.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
