package loopback

import "testing"

func TestHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LOCALHOST", true},
		{"LocalHost", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"127.255.255.255", true},
		{"::1", true},
		{"0:0:0:0:0:0:0:1", true},
		{"::ffff:127.0.0.1", true},

		{"", false},
		{"[::1]", false},          // brackets are the caller's to remove
		{"127.0.0.1:8080", false}, // so is a port
		{"localhost.", false},     // and a root dot
		{"2130706433", false},     // 127.0.0.1 as one number
		{"0x7f.1", false},         // 127.0.0.1 in hex and short form
		{"0177.0.0.1", false},     // in octal
		{"127.1", false},          // in short form
		{"example.com", false},
		{"localhost.example.com", false},
		{"mylocalhost", false},
		{"10.0.0.5", false},
		{"0.0.0.0", false},
		{"::", false},
		{"::ffff:10.0.0.1", false},
		{"128.0.0.1", false},
	}
	for _, tc := range tests {
		if got := Host(tc.host); got != tc.want {
			t.Errorf("Host(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
