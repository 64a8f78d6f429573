package sqlstore

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeListJSON is decodeList without the fast path: what the lists decoded to before.
func decodeListJSON(s string) ([]string, error) {
	if s == "" || s == "[]" || s == "null" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

var listInputs = []string{
	``, `[]`, `null`, `[""]`, `["openid"]`, `["openid","profile","offline_access"]`,
	`["https://app.example/cb","http://127.0.0.1/cb"]`, `["é","日本","🙂"]`,
	`["a\"b"]`, `["a\\b"]`, `["\u00e9"]`, `["a\nb"]`, "[\"a\tb\"]", "[\"\xff\"]", "[\"a\xc3\"]",
	`[ "a"]`, `["a" ]`, `["a", "b"]`, `["a",]`, `[,"a"]`, `["a""b"]`, `["a"`, `"a"]`, `[a]`,
	`[1]`, `["a",1]`, `[null]`, `{"a":1}`, `["a"]x`, `x["a"]`, `["`, `["]`, `[""""]`, `["","]`,
	`["a",""]`, `["",""]`, `["a","b","c","d","e","f","g","h","i","j"]`,
}

// TestPlainListSameAsJSON: whatever the fast path accepts decodes exactly as json.Unmarshal
// decodes it, and decodeList's answers (values and whether there is an error) are unchanged.
func TestPlainListSameAsJSON(t *testing.T) {
	fast := 0
	for _, in := range listInputs {
		checkList(t, in)
		if _, ok := plainList(in); ok {
			fast++
		}
	}
	if fast < 8 {
		t.Fatalf("the fast path took %d of the inputs; the plain lists should all take it", fast)
	}
	for _, in := range []string{`["openid"]`, `["openid","profile","offline_access"]`, `[""]`, `["é","日本"]`} {
		if _, ok := plainList(in); !ok {
			t.Errorf("%s: plain list not taken by the fast path", in)
		}
	}
}

func checkList(t *testing.T, in string) {
	t.Helper()
	got, gotErr := decodeList("c", in)
	want, wantErr := decodeListJSON(in)
	if (gotErr != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %q, %v; want %q, %v", in, got, gotErr, want, wantErr)
	}
	if l, ok := plainList(in); ok {
		var j []string
		if err := json.Unmarshal([]byte(in), &j); err != nil || !reflect.DeepEqual(l, j) {
			t.Fatalf("%q: fast path %q, json.Unmarshal %q, %v", in, l, j, err)
		}
	}
}

// FuzzDecodeList: for any column text, decodeList answers as json.Unmarshal does, and what
// encodeList writes reads back the same.
func FuzzDecodeList(f *testing.F) {
	for _, in := range listInputs {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkList(t, in)
		b, _ := json.Marshal([]string{in, "x"})
		checkList(t, string(b))
	})
}

func BenchmarkDecodeList(b *testing.B) {
	in := `["openid","profile","email","offline_access"]`
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeList("c", in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeListJSON(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
