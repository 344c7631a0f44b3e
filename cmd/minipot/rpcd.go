package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/minipot/minipot/internal/rpcd"
)

// runRPCD is `minipot rpcd list|call METHOD`, the rpcd plugin behind the
// ubus object "minipot". The package installs /usr/libexec/rpcd/minipot as a
// symlink to the binary, so rpcd runs it as `minipot list` and `minipot call
// METHOD`; run sends those here.
func runRPCD(args []string, stdout, stderr io.Writer) int {
	return rpcdMain(args, os.Stdin, stdout, stderr)
}

// rpcdVerbs are the words rpcd runs a plugin with.
var rpcdVerbs = []string{"list", "call"}

func rpcdMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	fs := flag.NewFlagSet("rpcd", flag.ContinueOnError)
	socket := rpcd.DefaultSocket
	if s := os.Getenv("MINIPOT_API_SOCKET"); s != "" {
		socket = s
	}
	fs.StringVar(&socket, "socket", socket, "the API's unix socket `path` (env MINIPOT_API_SOCKET)")
	timeout := fs.Duration("timeout", rpcd.DefaultTimeout, "how long to wait for the API (below rpcd's and LuCI's own timeouts)")
	u := usage{"rpcd [--socket PATH] list | call METHOD  (arguments: a JSON object on stdin)",
		[]string{"The rpcd plugin of the ubus object \"minipot\" (docs/openwrt.md, section ubus)."}}
	words, code, ok := parseFlags(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	// rpcd reads stdout only: whatever goes wrong, print one JSON object
	// (with the message) rather than a stack trace it would turn into a
	// bare "invalid argument".
	defer func() {
		if p := recover(); p != nil {
			writeReply(stdout, map[string]string{"error": fmt.Sprintf("minipot rpcd: internal error: %v", p)})
			code = 1
		}
	}()
	switch {
	case len(words) == 1 && words[0] == "list":
		return writeReply(stdout, rpcd.List())
	case len(words) == 2 && words[0] == "call":
		reply, ok := rpcd.Call(context.Background(), rpcd.Client{Socket: socket, Timeout: *timeout}, words[1], stdin)
		if code = writeReply(stdout, reply); code == 0 && !ok {
			// rpcd ignores the exit status; a shell script running the
			// plugin itself can test it.
			code = 1
		}
		return code
	}
	fs.Usage()
	return 2
}

// writeReply prints v as one JSON object on one line, without HTML
// escapes (rpcd's json-c reads `<` as well as `\u003c`, in a sixth of the
// bytes).
func writeReply(w io.Writer, v any) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		enc.Encode(map[string]string{"error": fmt.Sprintf("minipot rpcd: encode the reply: %v", err)})
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return 1
	}
	return 0
}
