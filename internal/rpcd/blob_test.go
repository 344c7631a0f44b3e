package rpcd

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestBlobSize(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        int
	}{
		// header 4 + name header pad4(2+len+1) + payload padded
		{"a", `"x"`, 4 + 4 + 4},
		{"abc", `""`, 4 + 8 + 4},
		{"a", `"<<<"`, 4 + 4 + 4}, // 3 bytes and a NUL: one word, however the API escaped them
		{"a", `"\u003c\u003c\u003c"`, 4 + 4 + 4},
		{"a", `true`, 4 + 4 + 4},
		{"a", `null`, 4 + 4},
		{"a", `2147483647`, 4 + 4 + 4},
		{"a", `-2147483648`, 4 + 4 + 4},
		{"a", `2147483648`, 4 + 4 + 8}, // u64
		{"a", `1.5`, 4 + 4 + 8},        // double
		{"a", `1e3`, 4 + 4 + 8},        // json-c reads it as a double too
		{"a", `{}`, 4 + 4},
		{"a", `[1,"x"]`, 4 + 4 + (4 + 4 + 4) + (4 + 4 + 4)},
		{"a", `{"bb":[]}`, 4 + 4 + (4 + 8)},
	} {
		out, got, err := ubusReply(map[string]json.RawMessage{tc.name: json.RawMessage(tc.value)})
		if err != nil || got != tc.want {
			t.Errorf("%s=%s: %d %v, want %d (%s)", tc.name, tc.value, got, err, tc.want, out[tc.name])
		}
	}
}

func TestUbusReplyEncodesNUL(t *testing.T) {
	in := map[string]json.RawMessage{
		"events": json.RawMessage(`[{"password":"abc\u0000def","username":"root","n":3}]`),
		"plain":  json.RawMessage(`"a\u0001b<c"`),
	}
	out, _, err := ubusReply(in)
	if err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	if err := json.Unmarshal(out["events"], &evs); err != nil {
		t.Fatal(err)
	}
	enc, _ := evs[0]["password"].(map[string]any)
	b, _ := base64.StdEncoding.DecodeString(enc[BytesKey].(string))
	if string(b) != "abc\x00def" || len(enc) != 1 {
		t.Errorf("password: %v", evs[0]["password"])
	}
	if evs[0]["username"] != "root" || evs[0]["n"] != 3.0 {
		t.Errorf("other members changed: %v", evs[0])
	}
	var plain string
	if json.Unmarshal(out["plain"], &plain) != nil || plain != "a\x01b<c" || strings.Contains(string(out["plain"]), `\u003c`) {
		t.Errorf("plain: %s", out["plain"])
	}
}

// FuzzUbusReply: any object the API might answer comes out as JSON that
// decodes, with no NUL left in a string, and a positive size.
func FuzzUbusReply(f *testing.F) {
	for _, s := range []string{`{"a":"x\u0000y"}`, `{"a":[1,2.5,null,true,{"b":"\u003c"}]}`, `{}`, `{"a":1e400}`, `{"a\u0000b":"c"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		obj, err := asObject([]byte(s))
		if err != nil {
			return
		}
		out, size, err := ubusReply(obj)
		if err != nil {
			return
		}
		if size < 0 || (len(obj) > 0 && size == 0) {
			t.Fatalf("size %d", size)
		}
		for k, v := range out {
			if !json.Valid(v) {
				t.Fatalf("%s: %s is not JSON", k, v)
			}
			if strings.Contains(string(v), `\u0000`) && !strings.Contains(string(obj[k]), `\u0000":`) {
				t.Fatalf("%s: a NUL is left in a value: %s", k, v)
			}
		}
	})
}
