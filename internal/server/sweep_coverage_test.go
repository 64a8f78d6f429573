package server_test

import (
	"maps"
	"slices"
	"testing"
)

// sweepCovers checks that a store-failure sweep follows the server's routes both ways: every
// route has a scenario (or, in noScenario, the reason it needs none), every scenario's route
// is one the server serves, and every route named in noScenario or named (a sweep's lists of
// routes that make no store call) is one too. A route added, renamed or removed without the
// sweep following fails here, in each of the four sweeps alike.
func sweepCovers(t *testing.T, what string, routes, scenarioRoutes []string, noScenario map[string]string, named ...map[string]string) {
	t.Helper()
	for _, r := range routes {
		if _, skip := noScenario[r]; !skip && !slices.Contains(scenarioRoutes, r) {
			t.Errorf("%s has no scenario in the %s: add one", r, what)
		}
	}
	for _, r := range scenarioRoutes {
		if !slices.Contains(routes, r) {
			t.Errorf("a scenario of the %s covers %s, which is not one of its routes the server serves", what, r)
		}
	}
	for _, m := range append(named, noScenario) {
		for _, r := range slices.Sorted(maps.Keys(m)) {
			if !slices.Contains(routes, r) {
				t.Errorf("the %s names %s, which is not one of its routes the server serves", what, r)
			}
		}
	}
}
