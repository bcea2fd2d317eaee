package text

import "testing"

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"\n  error: boom \nmore\n":  "error: boom",
		"a\x1b[2Jb\r":               "a?[2Jb",
		"\xffbad":                   "\uFFFDbad",
		"0123456789abcdefghij-rest": "0123456789ab...",
	} {
		if got := FirstLine(in, 12); got != want {
			t.Errorf("FirstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 29: "1.5 GiB",
	} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
	if got := MiB(3 << 19); got != "1.5" {
		t.Errorf("MiB = %q", got)
	}
}
