//go:build !unix

package main

// lockData does not lock where flock is missing: run one server per data
// directory.
func lockData(dir string) (release func(), err error) { return func() {}, nil }
