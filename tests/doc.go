// Package tests holds minipot's end-to-end tests: the real binary, real
// clients and real OpenWrt parts, in network namespaces and a headless
// browser; docs/ and the Makefile say how to run them.
package tests
