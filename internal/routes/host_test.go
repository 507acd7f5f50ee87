package routes

import "testing"

func TestNormalizeHost(t *testing.T) {
	tests := map[string]string{
		"foo.share.localhost":      "foo.share.localhost",
		"Foo.Share.LOCALHOST":      "foo.share.localhost",
		"foo.share.localhost:8080": "foo.share.localhost",
		"foo.share.localhost.":     "foo.share.localhost",
		"FOO.share.localhost.:443": "foo.share.localhost",
		"127.0.0.1:80":             "127.0.0.1",
		"[::1]:8080":               "::1",
		"[::1]":                    "::1",
		"":                         "",
	}
	for in, want := range tests {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeHostDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { _ = NormalizeHost("foo.share.localhost:8080") })
	if allocs != 0 {
		t.Errorf("NormalizeHost allocated %v times", allocs)
	}
}
