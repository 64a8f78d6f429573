package config

import (
	"bytes"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// examplePath is the documented example at the repo root. These tests make it impossible for
// the example to drift from the code: same keys, same defaults, every key commented, every
// environment variable listed.
const examplePath = "../../config.example.yaml"

func TestExampleConfigMatchesDefaults(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("decodes strictly", func(t *testing.T) {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var c Config
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("got error %v, want none", err)
		}
	})

	t.Run("loads, validates and equals Default after derivation", func(t *testing.T) {
		got, err := Load(examplePath, nil) // Load validates
		if err != nil {
			t.Fatalf("Load: got error %v, want none", err)
		}
		want := Default()
		want.fillDerived()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("example differs from Default():\ngot  %+v\nwant %+v", *got, *want)
		}
	})

	t.Run("sets every option", func(t *testing.T) {
		// Loading over a zeroed Config (not Default) shows that every field comes from the
		// file; a key missing from the example would stay zero and differ from Default.
		var got Config
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if want := Default(); !reflect.DeepEqual(&got, want) {
			t.Errorf("example over a zero Config differs from Default():\ngot  %+v\nwant %+v", got, *want)
		}
	})

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{} // key path -> has a comment
	collectKeys(root.Content[0], "", documented)

	t.Run("documents every key with a comment", func(t *testing.T) {
		for _, key := range configKeys(reflect.TypeOf(Config{}), "") {
			commented, ok := documented[key]
			switch {
			case !ok:
				t.Errorf("key %s: missing from %s", key, examplePath)
			case !commented:
				t.Errorf("key %s: has no comment in %s", key, examplePath)
			}
		}
	})

	t.Run("lists every environment variable", func(t *testing.T) {
		doc, err := os.ReadFile("doc.go")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range envVars {
			line := e.name + " "
			if !strings.Contains(string(data), line) {
				t.Errorf("%s: not listed in %s", e.name, examplePath)
			}
			if !strings.Contains(string(doc), line) {
				t.Errorf("%s: not listed in the package doc (doc.go)", e.name)
			}
		}
	})
}

// configKeys lists the dotted YAML key paths of every leaf option of t, sorted.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		path := prefix + name
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, configKeys(f.Type, path+".")...)
			continue
		}
		keys = append(keys, path)
	}
	sort.Strings(keys)
	return keys
}

// collectKeys records each mapping key under n with whether a comment documents it. Section
// keys (whose values are mappings) are recorded too; only leaves are checked.
func collectKeys(n *yaml.Node, prefix string, out map[string]bool) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := prefix + k.Value
		out[path] = k.HeadComment != "" || k.LineComment != "" || v.LineComment != ""
		collectKeys(v, path+".", out)
	}
}
