package rolearn

import "testing"

func TestExecuteAPIRegion(t *testing.T) {
	tests := map[string]string{
		"abc123.execute-api.eu-west-1.amazonaws.com":                             "eu-west-1",
		"ABC123.EXECUTE-API.EU-WEST-1.AMAZONAWS.COM.":                            "eu-west-1",
		"abc123.execute-api.cn-northwest-1.amazonaws.com.cn":                     "cn-northwest-1",
		"abc123.execute-api.eusc-de-east-1.amazonaws.eu":                         "eusc-de-east-1",
		"abc123-vpce-0123456789abcdef0.execute-api.us-east-2.vpce.amazonaws.com": "us-east-2",
		"rolecall.example.com":                                                   "",
		"abc123.execute-api.eu-west-1.amazonaws.com.example.com":                 "",
		"execute-api.eu-west-1.amazonaws.com":                                    "",
		"abc123.execute-api..amazonaws.com":                                      "",
		"127.0.0.1":                                                              "",
		"":                                                                       "",
	}
	for host, want := range tests {
		if got := ExecuteAPIRegion(host); got != want {
			t.Errorf("ExecuteAPIRegion(%q) = %q, want %q", host, got, want)
		}
	}
}
