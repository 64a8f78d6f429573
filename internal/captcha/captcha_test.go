package captcha

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"image/png"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// fakeStore is an in-memory storage.CaptchaStore with the SQL backends' semantics: consume
// is single use and refuses expired rows. It keeps a copy of every row it was given, so the
// tests can inspect exactly what would have reached the database.
type fakeStore struct {
	mu      sync.Mutex
	rows    map[string]*storage.Captcha
	created []storage.Captcha
	fail    error // returned by every call when set
}

func newFakeStore() *fakeStore { return &fakeStore{rows: map[string]*storage.Captcha{}} }

func (f *fakeStore) CreateCaptcha(_ context.Context, c *storage.Captcha) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, dup := f.rows[c.ID]; dup {
		return storage.ErrConflict
	}
	cp := *c
	f.rows[c.ID] = &cp
	f.created = append(f.created, cp)
	return nil
}

func (f *fakeStore) ConsumeCaptcha(_ context.Context, id string, now time.Time) (*storage.Captcha, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	c, ok := f.rows[id]
	switch {
	case !ok:
		return nil, storage.ErrNotFound
	case c.UsedAt != nil:
		return nil, storage.ErrAlreadyUsed
	case !now.Before(c.ExpiresAt):
		return nil, storage.ErrExpired
	}
	t := now
	c.UsedAt = &t
	cp := *c
	return &cp, nil
}

func (f *fakeStore) ReleaseCaptcha(_ context.Context, id string, usedAt time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.rows[id]; ok && c.UsedAt != nil && c.UsedAt.Equal(usedAt) {
		c.UsedAt = nil
	}
	return nil
}

// clock is a movable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testKey() []byte { return bytes.Repeat([]byte{0x5a}, 32) }

func newService(t *testing.T) (*Service, *fakeStore, *clock) {
	t.Helper()
	st := newFakeStore()
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	return &Service{Store: st, Key: testKey(), Now: clk.Now}, st, clk
}

func issue(t *testing.T, s *Service) (*Challenge, string) {
	t.Helper()
	ch, answer, err := s.newChallenge(context.Background(), "en")
	if err != nil {
		t.Fatalf("new challenge: %v", err)
	}
	return ch, answer
}

func verify(t *testing.T, s *Service, id, answer string) bool {
	t.Helper()
	ok, err := s.Verify(context.Background(), id, answer)
	if err != nil && !errors.Is(err, ErrExpired) {
		t.Fatalf("Verify(%q, %q): %v", id, answer, err)
	}
	return ok
}

func TestRightAnswerPassesOnce(t *testing.T) {
	s, _, _ := newService(t)
	ch, answer := issue(t, s)
	if len(answer) != DefaultLength {
		t.Fatalf("answer %q has %d digits, want %d", answer, len(answer), DefaultLength)
	}
	if !verify(t, s, ch.ID, answer) {
		t.Fatal("right answer rejected")
	}
	if verify(t, s, ch.ID, answer) {
		t.Fatal("right answer accepted a second time")
	}
}

func TestWrongAnswerBurnsCaptcha(t *testing.T) {
	s, _, _ := newService(t)
	ch, answer := issue(t, s)
	wrong := []byte(answer)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	if verify(t, s, ch.ID, string(wrong)) {
		t.Fatal("wrong answer accepted")
	}
	if verify(t, s, ch.ID, answer) {
		t.Fatal("right answer accepted after a wrong one: the wrong guess must use up the captcha")
	}
	ch2, _ := issue(t, s)
	if verify(t, s, ch2.ID, "") {
		t.Fatal("empty answer accepted")
	}
	if verify(t, s, ch2.ID, answer) {
		t.Fatal("captcha survived an empty answer")
	}
}

func TestUnknownCaptcha(t *testing.T) {
	s, _, _ := newService(t)
	if verify(t, s, "no-such-id", "123456") || verify(t, s, "", "123456") {
		t.Fatal("unknown captcha accepted")
	}
}

func TestExpiry(t *testing.T) {
	s, _, clk := newService(t)
	ch, answer := issue(t, s)
	if want := clk.Now().Add(DefaultTTL); !ch.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", ch.ExpiresAt, want)
	}
	clk.Add(DefaultTTL - time.Second)
	ch2, answer2 := issue(t, s)
	clk.Add(time.Second) // ch expires now; ch2 has 10 minutes minus a second left
	if ok, err := s.Verify(context.Background(), ch.ID, answer); ok || !errors.Is(err, ErrExpired) {
		t.Fatalf("expired captcha: %v, %v; want false, ErrExpired (the person is told it expired)", ok, err)
	}
	if !verify(t, s, ch2.ID, answer2) {
		t.Fatal("live captcha rejected")
	}

	s.TTL = time.Minute
	ch3, answer3 := issue(t, s)
	clk.Add(2 * time.Minute)
	if verify(t, s, ch3.ID, answer3) {
		t.Fatal("captcha accepted past a custom TTL")
	}
}

// expiryBlindStore forgets to check expiry; Verify must still refuse stale captchas.
type expiryBlindStore struct{ *fakeStore }

func (e expiryBlindStore) ConsumeCaptcha(ctx context.Context, id string, _ time.Time) (*storage.Captcha, error) {
	return e.fakeStore.ConsumeCaptcha(ctx, id, time.Time{})
}

func TestExpiryCheckedEvenIfStoreForgets(t *testing.T) {
	s, st, clk := newService(t)
	s.Store = expiryBlindStore{st}
	ch, answer := issue(t, s)
	clk.Add(DefaultTTL + time.Minute)
	if verify(t, s, ch.ID, answer) {
		t.Fatal("expired captcha accepted from a store that does not check expiry")
	}
}

func TestNormalization(t *testing.T) {
	s, _, _ := newService(t)
	ch, answer := issue(t, s)
	typed := "  " + answer[:3] + " " + answer[3:] + "\t\n"
	if !verify(t, s, ch.ID, typed) {
		t.Fatalf("answer with spaces %q rejected", typed)
	}

	// Letters that look like digits, in either case, and full-width digits.
	cases := map[string]string{
		"o1ZSgb": "012568", "OlzsGB": "012568", "q-I 2.5_6B": "012568",
		"１２３４５６": "123456", "Dd0": "000",
	}
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}

	// End to end: a captcha whose answer has confusable digits, typed with letters.
	for range 200 {
		ch, answer := issue(t, s)
		if !strings.ContainsAny(answer, "0125") {
			verify(t, s, ch.ID, answer) // use it up; try another
			continue
		}
		r := strings.NewReplacer("0", "o", "1", "l", "2", "z", "5", "s")
		typed := strings.ToLower(r.Replace(answer))
		if !verify(t, s, ch.ID, typed) {
			t.Fatalf("answer %q typed as %q rejected", answer, typed)
		}
		return
	}
	t.Fatal("no answer with 0, 1, 2 or 5 in 200 tries")
}

func TestImageIsPNG(t *testing.T) {
	s, _, _ := newService(t)
	ch, _ := issue(t, s)
	cfg, err := png.DecodeConfig(bytes.NewReader(ch.Image))
	if err != nil {
		t.Fatalf("image is not a PNG: %v", err)
	}
	if cfg.Width < 150 || cfg.Width > 600 || cfg.Height < 40 || cfg.Height > 200 {
		t.Errorf("image is %dx%d, want a sane captcha size", cfg.Width, cfg.Height)
	}
	img, err := png.Decode(bytes.NewReader(ch.Image))
	if err != nil {
		t.Fatalf("image does not decode: %v", err)
	}
	// Opaque everywhere, so it reads on a dark page too; and not blank.
	colors := map[[4]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			if a != 0xffff {
				t.Fatalf("pixel (%d,%d) is not opaque", x, y)
			}
			colors[[4]uint32{r, g, b, a}] = true
		}
	}
	if len(colors) < 2 {
		t.Fatal("image is blank")
	}
	if n := len(ch.Image); n < 500 || n > 64<<10 {
		t.Errorf("image is %d bytes", n)
	}
	url := string(ch.ImageDataURL())
	b64, ok := strings.CutPrefix(url, "data:image/png;base64,")
	if !ok {
		t.Fatalf("ImageDataURL = %.40q...", url)
	}
	if dec, err := base64.StdEncoding.DecodeString(b64); err != nil || !bytes.Equal(dec, ch.Image) {
		t.Fatalf("ImageDataURL does not carry the image: %v", err)
	}
}

func TestAudioIsWAV(t *testing.T) {
	s, _, _ := newService(t)
	for _, lang := range []string{"en", "de-CH", "xx"} {
		ch, _, err := s.newChallenge(context.Background(), lang)
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		checkWAV(t, ch.Audio)
		url := string(ch.AudioDataURL())
		b64, ok := strings.CutPrefix(url, "data:audio/wav;base64,")
		if !ok {
			t.Fatalf("AudioDataURL = %.40q...", url)
		}
		if dec, err := base64.StdEncoding.DecodeString(b64); err != nil || !bytes.Equal(dec, ch.Audio) {
			t.Fatalf("AudioDataURL does not carry the audio: %v", err)
		}
	}
}

// checkWAV checks the RIFF/WAVE structure: header, PCM format chunk, data chunk whose size
// matches the file, and a plausible duration for six spoken digits.
func checkWAV(t *testing.T, b []byte) {
	t.Helper()
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("not a RIFF/WAVE file: % x", b[:min(len(b), 16)])
	}
	le := binary.LittleEndian
	if riff := le.Uint32(b[4:8]); int(riff)+8 != len(b) {
		t.Errorf("RIFF size %d + 8 != file size %d", riff, len(b))
	}
	if string(b[12:16]) != "fmt " || le.Uint16(b[20:22]) != 1 {
		t.Fatalf("no PCM fmt chunk")
	}
	channels, rate, bits := le.Uint16(b[22:24]), le.Uint32(b[24:28]), le.Uint16(b[34:36])
	if channels != 1 || rate != 8000 || bits != 8 {
		t.Errorf("format %d ch %d Hz %d bit, want mono 8000 Hz 8 bit", channels, rate, bits)
	}
	if string(b[36:40]) != "data" {
		t.Fatalf("no data chunk")
	}
	data := int(le.Uint32(b[40:44]))
	if data > len(b)-44 || data < len(b)-45 {
		t.Errorf("data size %d does not match file (%d bytes after header)", data, len(b)-44)
	}
	if secs := float64(data) / float64(rate); secs < 5 || secs > 40 {
		t.Errorf("recording lasts %.1fs", secs)
	}
}

func TestAnswersAreRandom(t *testing.T) {
	// 1000 answers of the longest length never repeat (with 10^12 possibilities a repeat
	// has probability 5e-7; at the default 6 digits repeats are expected, see the birthday
	// bound, so uniqueness is checked at 12 and uniformity at 6).
	seen := map[string]bool{}
	for range 1000 {
		a, _ := Digits(rand.Reader, MaxLength)
		if seen[a] {
			t.Fatalf("answer %q repeated", a)
		}
		seen[a] = true
	}
	// Every digit is about equally likely at every position of a default answer.
	const n = 5000
	var counts [DefaultLength][10]int
	for range n {
		a, _ := Digits(rand.Reader, DefaultLength)
		if len(a) != DefaultLength {
			t.Fatalf("answer %q has length %d", a, len(a))
		}
		for i, c := range []byte(a) {
			if c < '0' || c > '9' {
				t.Fatalf("answer %q has a non-digit", a)
			}
			counts[i][c-'0']++
		}
	}
	for pos, row := range counts {
		for d, c := range row {
			// Expected 500, standard deviation about 21: ±150 is beyond 7 sigma.
			if c < 350 || c > 650 {
				t.Errorf("digit %d at position %d appeared %d times in %d answers", d, pos, c, n)
			}
		}
	}
	// And the real path: distinct ids, and no two of 100 consecutive challenges share an
	// answer more often than chance allows (expected 0.005 pairs).
	s, _, _ := newService(t)
	ids, answers := map[string]bool{}, map[string]int{}
	for range 100 {
		ch, a := issue(t, s)
		if ids[ch.ID] {
			t.Fatalf("id %q repeated", ch.ID)
		}
		ids[ch.ID] = true
		answers[a]++
	}
	for a, c := range answers {
		if c > 2 {
			t.Errorf("answer %q issued %d times in 100", a, c)
		}
	}
}

func TestStoreNeverSeesAnswer(t *testing.T) {
	s, st, _ := newService(t)
	var answers []string
	for range 20 {
		_, a := issue(t, s)
		answers = append(answers, a)
	}
	if len(st.created) != len(answers) {
		t.Fatalf("%d rows for %d captchas", len(st.created), len(answers))
	}
	for i, row := range st.created {
		a := answers[i]
		plain := sha256.Sum256([]byte(a))
		switch {
		case strings.Contains(row.AnswerHash, a):
			t.Errorf("row %d: answer %q appears in the stored hash %q", i, a, row.AnswerHash)
		case row.AnswerHash == secret.HashToken(a), row.AnswerHash == hex.EncodeToString(plain[:]):
			t.Errorf("row %d: stored hash is the unkeyed SHA-256 of the answer", i)
		case len(row.AnswerHash) != 64:
			t.Errorf("row %d: stored hash %q is not 64 hex digits", i, row.AnswerHash)
		case row.UsedAt != nil:
			t.Errorf("row %d: created as used", i)
		}
	}
	// The same answer under another captcha id or another key hashes differently: the hash
	// is bound to both, so rows cannot be compared or precomputed.
	if s.hash("a", "123456") == s.hash("b", "123456") {
		t.Error("hash does not depend on the captcha id")
	}
	other := &Service{Store: st, Key: bytes.Repeat([]byte{1}, 32)}
	if other.hash("a", "123456") == s.hash("a", "123456") {
		t.Error("hash does not depend on the key")
	}
}

func TestWrongKeyFails(t *testing.T) {
	s, st, clk := newService(t)
	ch, answer := issue(t, s)
	other := &Service{Store: st, Key: bytes.Repeat([]byte{1}, 32), Now: clk.Now}
	if verify(t, other, ch.ID, answer) {
		t.Fatal("captcha verified under another key")
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	st := newFakeStore()
	for name, s := range map[string]*Service{
		"no store":   {Key: testKey()},
		"no key":     {Store: st},
		"short key":  {Store: st, Key: make([]byte, 16)},
		"too short":  {Store: st, Key: testKey(), Length: 3},
		"too long":   {Store: st, Key: testKey(), Length: 13},
		"negative t": {Store: st, Key: testKey(), TTL: -time.Second},
	} {
		if _, err := s.New(ctx); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
		if _, err := s.Verify(ctx, "x", "1"); err == nil {
			t.Errorf("%s: Verify succeeded", name)
		}
	}
	if len(st.created) != 0 {
		t.Fatal("a misconfigured service stored a captcha")
	}
}

func TestLengths(t *testing.T) {
	for l := MinLength; l <= MaxLength; l++ {
		s, _, _ := newService(t)
		s.Length = l
		ch, answer := issue(t, s)
		if len(answer) != l {
			t.Fatalf("length %d: answer %q", l, answer)
		}
		if _, err := png.DecodeConfig(bytes.NewReader(ch.Image)); err != nil {
			t.Fatalf("length %d: %v", l, err)
		}
		checkWAVHeader(t, ch.Audio)
		if !verify(t, s, ch.ID, answer) {
			t.Fatalf("length %d: right answer rejected", l)
		}
	}
}

func checkWAVHeader(t *testing.T, b []byte) {
	t.Helper()
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatal("not a WAV file")
	}
}

func TestStoreErrorsAreWrapped(t *testing.T) {
	s, st, _ := newService(t)
	ch, answer := issue(t, s)
	boom := errors.New("database on fire")
	st.fail = boom
	if _, err := s.New(context.Background()); !errors.Is(err, boom) {
		t.Errorf("New: err = %v, want it to wrap the store's error", err)
	}
	ok, err := s.Verify(context.Background(), ch.ID, answer)
	if ok || !errors.Is(err, boom) {
		t.Errorf("Verify = %v, %v; want false and the store's error", ok, err)
	}
}

func TestPublicNew(t *testing.T) {
	s, st, _ := newService(t)
	ch, err := s.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ch.ID == "" || len(ch.Image) == 0 || len(ch.Audio) == 0 || len(st.created) != 1 || st.created[0].ID != ch.ID {
		t.Fatalf("New returned %+v", ch.ID)
	}
	if _, err := s.NewInLanguage(context.Background(), "ja-JP"); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentVerifyOnlyOneWins(t *testing.T) {
	s, _, _ := newService(t)
	ch, answer := issue(t, s)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.Verify(context.Background(), ch.ID, answer)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent verifications succeeded, want 1", wins)
	}
}

func TestPassIsASolvedSingleUseCaptcha(t *testing.T) {
	s, _, _ := newService(t)
	p, err := s.NewPass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Answer) != MaxLength {
		t.Errorf("pass answer %q, want %d digits", p.Answer, MaxLength)
	}
	if !verify(t, s, p.ID, p.Answer) {
		t.Fatal("pass refused")
	}
	if verify(t, s, p.ID, p.Answer) {
		t.Fatal("pass accepted twice")
	}
}

// TestRightAnswerGivenBackOnOurFailure: a right answer registers its release with the
// request's fault recorder, run when the request fails on our side; a wrong answer stays spent.
func TestRightAnswerGivenBackOnOurFailure(t *testing.T) {
	s, st, _ := newService(t)
	ctx, rec := fault.NewContext(context.Background())
	right, answer, err := s.newChallenge(ctx, "en")
	if err != nil {
		t.Fatal(err)
	}
	wrong, _, err := s.newChallenge(ctx, "en")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Verify(ctx, right.ID, answer); !ok || err != nil {
		t.Fatalf("right answer: %v %v", ok, err)
	}
	if ok, _ := s.Verify(ctx, wrong.ID, "000000000"); ok {
		t.Fatal("a wrong answer passed")
	}
	if err := rec.Undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Verify(context.Background(), right.ID, answer); !ok || err != nil {
		t.Errorf("the right answer after our failure: %v %v, want it to stand", ok, err)
	}
	if ok, err := s.Verify(context.Background(), right.ID, answer); ok || err != nil {
		t.Errorf("the right answer used again without a failure: %v %v, want spent", ok, err)
	}
	if c := st.rows[wrong.ID]; c.UsedAt == nil {
		t.Errorf("a wrong answer was given back")
	}
}
