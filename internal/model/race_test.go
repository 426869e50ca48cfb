//go:build race

package model

// raceEnabled shortens the longest inputs: the race detector makes the
// solver about ten times slower.
const raceEnabled = true
