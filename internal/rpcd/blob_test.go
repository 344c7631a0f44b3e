package rpcd

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rawReply is ubusReply of an object given as JSON members.
func rawReply(obj map[string]json.RawMessage) (map[string]json.RawMessage, int, error) {
	m, err := decodeMembers(obj)
	if err != nil {
		return nil, 0, err
	}
	return ubusReply(m)
}

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
		out, got, err := rawReply(map[string]json.RawMessage{tc.name: json.RawMessage(tc.value)})
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
	out, _, err := rawReply(in)
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
		out, size, err := rawReply(obj)
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

// TestBlobSizeMatchesLibubox checks blobSize against libubox itself (the
// one OpenWrt's ubus and rpcd are built from, in /opt/openwrt-host): a small
// C program converts the same objects with blobmsg_add_json_from_string and
// prints the sizes. Outside CI it skips without gcc or libubox.
func TestBlobSizeMatchesLibubox(t *testing.T) {
	const host = "/opt/openwrt-host"
	gcc, err := exec.LookPath("gcc")
	if _, serr := os.Stat(host + "/include/libubox/blobmsg_json.h"); err != nil || serr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs gcc and OpenWrt's libubox in %s (CI=true): %v %v", host, err, serr)
		}
		t.Skipf("needs gcc and OpenWrt's libubox in %s (../shared/openwrt/build.sh)", host)
	}
	bin := filepath.Join(t.TempDir(), "blobsize")
	if out, err := exec.Command(gcc, "-O1", "-o", bin, "testdata/blobsize.c", "-I"+host+"/include",
		"-L"+host+"/lib", "-Wl,-rpath,"+host+"/lib", "-lblobmsg_json", "-lubox", "-ljson-c").CombinedOutput(); err != nil {
		t.Fatalf("build testdata/blobsize.c: %v\n%s", err, out)
	}
	docs := []string{
		`{}`, `{"a":"x"}`, `{"abcd":""}`, `{"a":"\u003c\u003c<"}`, `{"a":true,"b":false,"c":null}`,
		`{"n":2147483647,"m":-2147483648,"big":2147483648,"neg":-2147483649,"f":1.5,"e":1e3,"z":0}`,
		`{"a":[1,"x",[],{},[null,true]],"b":{"c":{"d":"deep"}}}`,
		`{"events":[{"id":1,"time":"2026-12-02T16:00:00.000Z","service":"80tcp","url":"/<script>","password":{"base64":"cGEAc3M="}}]}`,
	}
	// And generated ones: every type, names and strings of every length
	// modulo 4, nesting, Unicode.
	rnd := rand.New(rand.NewPCG(1, 2))
	var gen func(depth int) any
	gen = func(depth int) any {
		switch k := rnd.IntN(9); {
		case k == 0 && depth < 4:
			m := map[string]any{}
			for i := rnd.IntN(5); i > 0; i-- {
				m[strings.Repeat("k", rnd.IntN(9))+strconv.Itoa(i)] = gen(depth + 1)
			}
			return m
		case k == 1 && depth < 4:
			var a []any
			for i := rnd.IntN(5); i > 0; i-- {
				a = append(a, gen(depth+1))
			}
			return a
		case k == 2:
			return rnd.IntN(2) == 0
		case k == 3:
			return nil
		case k == 4:
			return json.Number(strconv.FormatInt(rnd.Int64N(1<<40)-1<<39, 10))
		case k == 5:
			return json.Number(strconv.FormatInt(int64(rnd.Int32()), 10))
		case k == 6:
			return rnd.Float64() * 1000
		}
		return strings.Repeat("é<", rnd.IntN(6)) + strings.Repeat("x", rnd.IntN(7))
	}
	for i := 0; i < 300; i++ {
		obj := map[string]any{}
		for j := rnd.IntN(6); j >= 0; j-- {
			obj["m"+strings.Repeat("_", rnd.IntN(6))+strconv.Itoa(j)] = gen(0)
		}
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(data))
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(strings.Join(docs, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sizes := strings.Fields(string(out))
	if len(sizes) != len(docs) {
		t.Fatalf("%d sizes for %d documents", len(sizes), len(docs))
	}
	for i, doc := range docs {
		obj, err := asObject([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := rawReply(obj)
		if err != nil {
			t.Fatal(err)
		}
		if strconv.Itoa(got) != sizes[i] {
			t.Errorf("%s: blobSize %d, libubox %s", doc, got, sizes[i])
		}
	}
}
