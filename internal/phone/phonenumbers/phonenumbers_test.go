package phonenumbers

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"testing"

	upstream "github.com/nyaruka/phonenumbers"
)

// TestSameAsUpstream parses numbers of every region and type, each also a digit short, a
// digit long and with a digit changed, plus random digit strings, with this copy and with
// the upstream module it came from, and compares what Parse, validation and formatting
// return: decoding the metadata ourselves and on first use must change no result.
func TestSameAsUpstream(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(12, 34))
	regions := make([]string, 0, 256)
	for region := range upstream.GetSupportedRegions() {
		regions = append(regions, region)
	}
	slices.Sort(regions)
	if len(regions) < 200 {
		t.Fatalf("upstream knows only %d regions", len(regions))
	}
	type input struct{ number, region string }
	var inputs []input
	add := func(number string, defaults ...string) {
		for _, d := range defaults {
			inputs = append(inputs, input{number, d})
		}
	}
	for _, region := range regions {
		for typ := upstream.FIXED_LINE; typ < upstream.UNKNOWN; typ++ {
			n := upstream.GetExampleNumberForType(region, typ)
			if n == nil {
				continue
			}
			nsn := upstream.GetNationalSignificantNumber(n)
			national := upstream.Format(n, upstream.NATIONAL)
			add(national, region, "DE")
			add(upstream.Format(n, upstream.INTERNATIONAL), "", region)
			add(upstream.Format(n, upstream.E164), "", "US")
			add(upstream.Format(n, upstream.RFC3966), "")
			add(nsn[:len(nsn)-1], region)
			add(nsn+strconv.Itoa(r.IntN(10)), region)
			i := r.IntN(len(nsn))
			add(nsn[:i]+strconv.Itoa(r.IntN(10))+nsn[i+1:], region)
			add(national+" ext. 12", region)
		}
	}
	for range 400 {
		b := make([]byte, 3+r.IntN(14))
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		add(string(b), regions[r.IntN(len(regions))])
		add("+"+string(b), "")
	}
	add("", "DE")
	add("030 123456", "")
	add("call me", "DE")
	add("+49 (0) 30 123456", "GB")
	add("00 49 30 123456", "FR")
	add("011 44 20 7946 0958", "US")
	add("1-800-FLOWERS", "US")
	add("+7 495 123-45-67", "RU")
	add("+800 1234 5678", "")
	add("+882 34 1234 5678", "")
	add("٠٣٠ ١٢٣٤٥٦", "DE")
	add("０３０ １２３４５６", "JP")

	compared := 0
	for _, in := range inputs {
		got, gotErr := Parse(in.number, in.region)
		want, wantErr := upstream.Parse(in.number, in.region)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Errorf("Parse(%q, %q): error %v, upstream %v", in.number, in.region, gotErr, wantErr)
			continue
		}
		if gotErr != nil {
			continue
		}
		compared++
		g := fmt.Sprintln(got.GetCountryCode(), got.GetNationalNumber(), got.GetExtension(), got.GetItalianLeadingZero(),
			got.GetNumberOfLeadingZeros(), IsValidNumber(got), IsPossibleNumber(got), int(GetNumberType(got)),
			GetRegionCodeForNumber(got), IsValidNumberForRegion(got, in.region),
			Format(got, E164), Format(got, INTERNATIONAL), Format(got, NATIONAL), Format(got, RFC3966),
			FormatOutOfCountryCallingNumber(got, "US"), FormatOutOfCountryCallingNumber(got, "DE"),
			FormatNumberForMobileDialing(got, "RU", true), GetNationalSignificantNumber(got))
		w := fmt.Sprintln(want.GetCountryCode(), want.GetNationalNumber(), want.GetExtension(), want.GetItalianLeadingZero(),
			want.GetNumberOfLeadingZeros(), upstream.IsValidNumber(want), upstream.IsPossibleNumber(want), int(upstream.GetNumberType(want)),
			upstream.GetRegionCodeForNumber(want), upstream.IsValidNumberForRegion(want, in.region),
			upstream.Format(want, upstream.E164), upstream.Format(want, upstream.INTERNATIONAL), upstream.Format(want, upstream.NATIONAL), upstream.Format(want, upstream.RFC3966),
			upstream.FormatOutOfCountryCallingNumber(want, "US"), upstream.FormatOutOfCountryCallingNumber(want, "DE"),
			upstream.FormatNumberForMobileDialing(want, "RU", true), upstream.GetNationalSignificantNumber(want))
		if g != w {
			t.Errorf("Parse(%q, %q):\n got %s\nwant %s", in.number, in.region, g, w)
		}
	}
	if compared < 1000 {
		t.Errorf("only %d of %d inputs parsed; the comparison proves little", compared, len(inputs))
	}
	t.Logf("%d inputs, %d parsed and compared", len(inputs), compared)
}

// TestMetadataIsLazy runs this test binary again with GODEBUG=inittrace=1 and reads what
// this package's initialisation allocated: without the metadata (decoded by the first
// call) it is the compiled regular expressions, a few hundred kB; with it, over 2 MB.
func TestMetadataIsLazy(t *testing.T) {
	t.Parallel()
	if os.Getenv("PHONENUMBERS_INITTRACE") != "" {
		return // the child: initialisation, traced, is all it had to do
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestMetadataIsLazy$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1", "PHONENUMBERS_INITTRACE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	line := regexp.MustCompile(`^init github.com/myaccount/myaccount/internal/phone/phonenumbers @.* (\d+) bytes, (\d+) allocs$`)
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		t.Logf("package initialisation: %s bytes, %s allocs", m[1], m[2])
		if n > 1<<20 {
			t.Fatalf("initialising the package allocated %d bytes; is the metadata decoded in init again?", n)
		}
		return
	}
	t.Fatalf("no inittrace line for this package in:\n%s", stderr.String())
}

// BenchmarkLoad is what the first use of the package costs: decoding the metadata.
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if load() == nil {
			b.Fatal("no metadata")
		}
	}
}
