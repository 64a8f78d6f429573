// Package zxcvbn estimates password strength. It is github.com/ccojocar/zxcvbn-go v1.0.4
// (MIT, see LICENSE; itself a port of Dropbox's zxcvbn) folded into one package, with one
// change: the dictionaries and keyboard graphs are built by New into an Estimator, not by
// package init functions. Upstream built them (about 6 MB of heap) in every process that
// linked it, whether or not a password was ever scored; here they exist only once something
// asks for an Estimator. The matching and scoring code is upstream's, unchanged apart from
// reading those tables from the Estimator; TestSameAsUpstream compares every score with the
// upstream module's.
package zxcvbn

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// data holds upstream's JSON word lists and keyboard graphs, gzipped. It is a read-only
// asset (go:embed needs a package-level variable).
//
//go:embed data/*.json.gz
var data embed.FS

// graph is an adjacency graph of keys, as upstream's adjacency.Graph.
type graph struct {
	Graph map[string][]string
	Name  string
}

// avgDegree is upstream's CalculateAvgDegree: the average number of neighbours of a key
// (the condition is upstream's, true for every entry, kept so the figures match).
func (g graph) avgDegree() float64 {
	var avg, count float64
	for _, value := range g.Graph {
		for _, char := range value {
			if len(char) != 0 || char != " " {
				avg += float64(len(char))
				count++
			}
		}
	}
	return avg / count
}

// Estimator scores passwords. Build it once with New (a few tens of milliseconds and about
// 6 MB of heap) and share it: it is read-only and safe for concurrent use.
type Estimator struct {
	dictionaryMatchers []matcher
	matchers           []matcher
	adjacencyGraphs    []graph
	l33tTable          graph
	sequences          map[string]string

	qwertyStartingPositions, qwertyAvgDegree float64
	keyPadStartingPositions, keyPadAvgDegree float64
}

// New loads the word lists and graphs.
func New() (*Estimator, error) {
	e := &Estimator{}
	// Upstream's order of frequency lists was a map's (random); matches are sorted before
	// scoring, so the order does not change a score.
	for _, name := range []string{"MaleNames", "FemaleNames", "Surnames", "English", "Passwords"} {
		var list struct{ List []string }
		if err := load(name, &list); err != nil {
			return nil, err
		}
		id := name
		if name == "Surnames" {
			id = "Surname" // upstream's name for it
		}
		e.dictionaryMatchers = append(e.dictionaryMatchers, matcher{MatchingFunc: buildDictMatcher(id, buildRankedDict(list.List)), ID: id})
	}
	graphs := map[string]*graph{}
	for _, name := range []string{"Qwerty", "Dvorak", "Keypad", "MacKeypad", "L33t"} {
		g := &graph{}
		if err := load(name, g); err != nil {
			return nil, err
		}
		graphs[name] = g
	}
	// Upstream's names, including the L33t table's "keypad".
	graphs["Qwerty"].Name, graphs["Dvorak"].Name, graphs["Keypad"].Name = "qwerty", "dvorak", "keypad"
	graphs["MacKeypad"].Name, graphs["L33t"].Name = "mac_keypad", "keypad"
	e.l33tTable = *graphs["L33t"]
	e.adjacencyGraphs = []graph{*graphs["Qwerty"], *graphs["Dvorak"], *graphs["Keypad"], *graphs["MacKeypad"]}
	e.qwertyStartingPositions, e.qwertyAvgDegree = float64(len(graphs["Qwerty"].Graph)), graphs["Qwerty"].avgDegree()
	e.keyPadStartingPositions, e.keyPadAvgDegree = float64(len(graphs["Keypad"].Graph)), graphs["Keypad"].avgDegree()

	e.sequences = map[string]string{
		"lower":  "abcdefghijklmnopqrstuvwxyz",
		"upper":  "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"digits": "0123456789",
	}
	e.matchers = append(e.matchers, e.dictionaryMatchers...)
	e.matchers = append(e.matchers,
		matcher{MatchingFunc: e.spatialMatch, ID: "SPATIAL"},
		matcher{MatchingFunc: repeatMatch, ID: "REPEAT"},
		matcher{MatchingFunc: e.sequenceMatch, ID: "SEQ"},
		matcher{MatchingFunc: e.l33tMatch, ID: "l33t"},
		matcher{MatchingFunc: dateSepMatcher, ID: "DATESEP"},
		matcher{MatchingFunc: dateWithoutSepMatch, ID: "DATEWITHOUT"},
	)
	return e, nil
}

// load decodes one embedded JSON file into v.
func load(name string, v any) error {
	gz, err := data.ReadFile("data/" + name + ".json.gz")
	if err != nil {
		return fmt.Errorf("zxcvbn: %s: %w", name, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return fmt.Errorf("zxcvbn: %s: %w", name, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("zxcvbn: %s: %w", name, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("zxcvbn: %s: %w", name, err)
	}
	return nil
}

// omnimatch runs all matchers against the password (upstream's matching.Omnimatch).
func (e *Estimator) omnimatch(password string, userInputs []string) (matches []Match) {
	if userInputs != nil {
		userInputMatcher := buildDictMatcher("user_inputs", buildRankedDict(userInputs))
		matches = userInputMatcher(password)
	}
	for _, m := range e.matchers {
		matches = append(matches, m.MatchingFunc(password)...)
	}
	sort.Sort(matchList(matches))
	return matches
}

// PasswordStrength scores password, treating userInputs (name, email, ...) as a dictionary
// too. Upstream's CalcTime is left zero.
func (e *Estimator) PasswordStrength(password string, userInputs []string) MinEntropyMatch {
	return MinimumEntropyMatchSequence(password, e.omnimatch(password, userInputs))
}
