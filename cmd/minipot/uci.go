package main

import (
	"io"
	"os"

	"github.com/minipot/minipot/internal/ucicli"
)

// runUCI is `minipot uci`: OpenWrt's uci for routers without libuci, with
// the option handling of every minipot subcommand (MainStrict).
func runUCI(args []string, stdout, stderr io.Writer) int {
	return ucicli.MainStrict("uci", args, os.Stdin, stdout, stderr)
}
