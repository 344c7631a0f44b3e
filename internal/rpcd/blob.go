package rpcd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// What rpcd does to the plugin's reply: it parses the JSON with json-c and
// rebuilds it as a blobmsg table (rpcd/plugin.c,
// rpc_plugin_json_element_to_blob), which libubus sends as one message of
// at most 1 MiB (UBUS_MAX_MSGLEN, checked on the whole message). blobmsg
// strings are C strings: a NUL byte ends them there. Both facts are
// handled here, on the reply as rpcd will see it, not on the API's JSON
// (where `<` alone takes 6 bytes).
const (
	// ubusMaxMsg is UBUS_MAX_MSGLEN.
	ubusMaxMsg = 1 << 20
	// ubusOverhead is what a reply message holds besides the reply's
	// members: the message's own attribute (4 bytes), the object id (8)
	// and the data attribute's header (4), with room to spare for what
	// ubusd may add when it forwards the reply.
	ubusOverhead = 64
	// MaxBlob is the most the reply's members may take as blobmsg.
	MaxBlob = ubusMaxMsg - ubusOverhead
)

// BytesKey names the object that stands for a string a C string cannot
// carry (one with a NUL byte): {"base64": "<the string's UTF-8 bytes in
// standard base64>"}. Only such strings are encoded; every other string is
// passed as it is. LuCI's view decodes it back (decodeBytes), so that the
// text shown is the text stored, as on the API's own page.
const BytesKey = "base64"

// ubusReply turns a reply object into what rpcd can carry: strings with a
// NUL encoded (BytesKey), and the blobmsg size checked against MaxBlob. It
// returns the members as JSON and their blobmsg size. obj's values are as
// json decodes them with UseNumber; encodeNUL changes them in place.
func ubusReply(obj map[string]any) (map[string]json.RawMessage, int, error) {
	out := make(map[string]json.RawMessage, len(obj))
	size := 0
	for name, v := range obj {
		v = encodeNUL(v)
		size += blobSize(name, v)
		data, err := marshal(v)
		if err != nil {
			return nil, 0, fmt.Errorf("member %q: %w", name, err)
		}
		out[name] = data
	}
	return out, size, nil
}

// decodeMembers decodes each member of a JSON object (UseNumber: numbers
// keep their text, as json-c reads it).
func decodeMembers(obj map[string]json.RawMessage) (map[string]any, error) {
	out := make(map[string]any, len(obj))
	for name, raw := range obj {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// marshal is json.Marshal without HTML escaping: `<` stays one byte on the
// pipe to rpcd.
func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// encodeNUL replaces each string that holds a NUL byte with its BytesKey
// object, anywhere in v (as decoded with UseNumber).
func encodeNUL(v any) any {
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			return map[string]any{BytesKey: base64.StdEncoding.EncodeToString([]byte(x))}
		}
	case map[string]any:
		for k, e := range x {
			x[k] = encodeNUL(e)
		}
	case []any:
		for i, e := range x {
			x[i] = encodeNUL(e)
		}
	}
	return v
}

// pad4 rounds up to blob alignment (4 bytes).
func pad4(n int) int { return (n + 3) &^ 3 }

// blobSize is the size of v as a blobmsg attribute named name (empty in
// an array), padding included: a 4-byte attribute header, the blobmsg
// name header (2-byte length, the name, a NUL, padded), then the payload
// padded. Payloads as rpcd's plugin.c makes them: strings with their NUL,
// booleans as u8, integers as u32 when they fit in an int32 and u64
// otherwise, other numbers as doubles, null as nothing, tables and arrays
// as their members.
func blobSize(name string, v any) int {
	hdr := 4 + pad4(2+len(name)+1)
	payload := 0
	switch x := v.(type) {
	case string:
		payload = len(x) + 1
	case bool:
		payload = 1
	case json.Number:
		payload = 8
		if i, err := x.Int64(); err == nil && i >= -1<<31 && i < 1<<31 {
			payload = 4
		}
	case nil:
	case map[string]any:
		for k, e := range x {
			payload += blobSize(k, e)
		}
	case []any:
		for _, e := range x {
			payload += blobSize("", e)
		}
	}
	return hdr + pad4(payload)
}
