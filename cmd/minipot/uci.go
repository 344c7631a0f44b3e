package main

import (
	"io"
	"os"

	"github.com/minipot/minipot/internal/ucicli"
)

// runUCI is `minipot uci`: OpenWrt's uci for routers without libuci.
func runUCI(args []string, stdout, stderr io.Writer) int {
	return ucicli.Main("uci", args, os.Stdin, stdout, stderr)
}
