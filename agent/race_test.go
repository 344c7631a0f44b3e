//go:build race

package agent

// The race detector enlarges every frame, so stack sizes mean nothing.
func init() { raceEnabled = true }
