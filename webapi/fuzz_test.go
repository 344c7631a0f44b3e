package webapi

import (
	"testing"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// FuzzDecodePatch: any request body decodes to a patch or to field errors,
// never a panic; settings a patch makes are either refused by Validate
// with field errors or written to UCI and read back unchanged.
func FuzzDecodePatch(f *testing.F) {
	for _, s := range []string{
		`{"enabled":false}`,
		`{"log_credentials":true,"services":{"2323tcp":{"enabled":false}}}`,
		`{"redir_offset":70000}`,
		`{"mark_mask":"0x30000","limits":{"idle_timeout":"2m"}}`,
		`{"agent":{"hostname":"turris","login_delay":"1500ms"}}`,
		`{"unknown":1}`, `null`, `[]`, `{"enabled":null}`, `{"enabled":"yes"}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, errs := decodePatch(body)
		if len(errs) > 0 {
			return
		}
		s, _, errs := applyPatch(settings.Defaults(), p)
		if len(errs) > 0 {
			return
		}
		if err := s.Validate(); err != nil {
			if _, ok := err.(settings.Errors); !ok {
				t.Fatalf("Validate gave %T, not field errors: %v", err, err)
			}
			return
		}
		p2, _ := uci.Parse(settings.Package, nil)
		if err := s.Apply(p2); err != nil {
			t.Fatalf("valid settings do not apply: %v", err)
		}
		if _, err := settings.FromPackage(p2); err != nil {
			t.Fatalf("applied settings do not load: %v\n%s", err, p2.Marshal())
		}
	})
}
