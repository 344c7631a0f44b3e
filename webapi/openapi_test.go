package webapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/settings"
)

// TestOpenAPIFollowsTheServiceTable: every list of service keys in
// openapi.json (enums, the settings document's properties and required
// keys) and every list of kinds holds exactly the service table's, in its
// order, so a new service cannot be forgotten there.
func TestOpenAPIFollowsTheServiceTable(t *testing.T) {
	var doc any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var keys, kinds []string
	for _, svc := range settings.Services() {
		keys = append(keys, svc.Key)
		if !slices.Contains(kinds, string(svc.Kind)) {
			kinds = append(kinds, string(svc.Kind))
		}
	}
	found := 0
	var walk func(v any, path string)
	check := func(path string, got []string) {
		switch {
		case slices.Contains(got, keys[0]):
			found++
			if !slices.Equal(got, keys) {
				t.Errorf("%s lists %v, the service table %v", path, got, keys)
			}
		case slices.Contains(got, string(settings.Telnet)):
			found++
			if !slices.Equal(got, kinds) {
				t.Errorf("%s lists kinds %v, the service table %v", path, got, kinds)
			}
		}
	}
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				switch list := child.(type) {
				case []any:
					if k == "enum" || k == "required" {
						var strs []string
						for _, x := range list {
							if s, ok := x.(string); ok {
								strs = append(strs, s)
							}
						}
						check(path+"/"+k, strs)
					}
				case map[string]any:
					if k == "properties" {
						var names []string
						for name := range list {
							names = append(names, name)
						}
						if slices.Contains(names, keys[0]) {
							// JSON objects have no order: compare as sets.
							slices.Sort(names)
							want := slices.Clone(keys)
							slices.Sort(want)
							found++
							if !slices.Equal(names, want) {
								t.Errorf("%s/properties has %v, the service table %v", path, names, want)
							}
						}
					}
				}
				walk(child, path+"/"+strings.ReplaceAll(k, "/", "~1"))
			}
		case []any:
			for _, child := range v {
				walk(child, path)
			}
		}
	}
	walk(doc, "")
	// events' filter, Event, Stats, Settings (properties, required),
	// SettingsPatch; Service's and the status' kinds
	if found < 8 {
		t.Errorf("found %d lists of services or kinds in openapi.json, want at least 8", found)
	}
}
