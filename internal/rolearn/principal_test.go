package rolearn

import "testing"

// TestParsePrincipal: the principals ParsePrincipal accepts, with what it
// parses them to, and the strings it refuses (a zero want).
func TestParsePrincipal(t *testing.T) {
	tests := []struct {
		in      string
		want    Principal // zero: refused
		roleARN string
	}{
		{in: "arn:aws:iam::123456789012:root", want: Principal{Kind: KindRoot, Partition: "aws", Account: "123456789012"}},
		{in: "arn:aws:iam::123456789012:user/ops/alice", want: Principal{Kind: KindUser, Partition: "aws", Account: "123456789012", Path: "/ops/", Name: "alice"}},
		{in: "arn:aws-cn:iam::123456789012:role/svc/Reader", want: Principal{Kind: KindRole, Partition: "aws-cn", Account: "123456789012", Path: "/svc/", Name: "Reader"},
			roleARN: "arn:aws-cn:iam::123456789012:role/svc/Reader"},
		{in: "arn:aws:sts::123456789012:assumed-role/Reader/s1", want: Principal{Kind: KindAssumedRole, Partition: "aws", Account: "123456789012", Path: "/", Name: "Reader", Session: "s1"},
			roleARN: "arn:aws:iam::123456789012:role/Reader"},
		{in: "arn:aws:iam::123456789012:group/admins"},
		{in: "arn:aws:iam:us-east-1:123456789012:root"},
		{in: "arn:nope:iam::123456789012:root"},
		{in: "arn:aws:iam::12345678901:root"},
		{in: "arn:aws:iam::123456789012:user/bad name"},
		{in: "arn:aws:iam::123456789012:role/a*b"},
		{in: "arn:aws:sts::123456789012:assumed-role/Reader"},
		{in: "arn:aws:sts::123456789012:federated-user/bob"},
		{in: "arn:aws:s3:::bucket"},
		{in: "not-an-arn"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePrincipal(tc.in)
			if ok := tc.want != (Principal{}); (err == nil) != ok {
				t.Fatalf("ParsePrincipal(%q) error = %v, want ok=%v", tc.in, err, ok)
			}
			if got != tc.want {
				t.Fatalf("ParsePrincipal(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if tc.roleARN != "" && got.RoleARN() != tc.roleARN {
				t.Fatalf("RoleARN() = %q, want %q", got.RoleARN(), tc.roleARN)
			}
		})
	}
}

func TestSessionARNDropsPath(t *testing.T) {
	p, err := ParsePrincipal("arn:aws:iam::123456789012:role/svc/Reader")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.SessionARN("s1"), "arn:aws:sts::123456789012:assumed-role/Reader/s1"; got != want {
		t.Fatalf("SessionARN = %q, want %q", got, want)
	}
}

// TestPartitionAndAccount: the partition and account of an ARN, "" where
// it has none; PartitionOr gives its fallback exactly where Partition
// gives "".
func TestPartitionAndAccount(t *testing.T) {
	const fallback = "fallback-partition"
	tests := []struct{ in, partition, account string }{
		{"arn:aws-us-gov:iam::123456789012:role/x", "aws-us-gov", "123456789012"},
		{"arn:aws:s3:::bucket", "aws", ""},
		{"arn:aws-cn:iam::123456789012:role/Verifier", "aws-cn", "123456789012"},
		{"arn::iam::123456789012:role/x", "", "123456789012"},
		{"not-an-arn", "", ""},
		{"", "", ""},
		{"arn:aws:iam", "", ""},
		{"xrn:aws-cn:iam::123456789012:root", "", ""},
	}
	for _, tc := range tests {
		if got := Partition(tc.in); got != tc.partition {
			t.Errorf("Partition(%q) = %q, want %q", tc.in, got, tc.partition)
		}
		if got := Account(tc.in); got != tc.account {
			t.Errorf("Account(%q) = %q, want %q", tc.in, got, tc.account)
		}
		want := tc.partition
		if want == "" {
			want = fallback
		}
		if got := PartitionOr(tc.in, fallback); got != want {
			t.Errorf("PartitionOr(%q, %q) = %q, want %q", tc.in, fallback, got, want)
		}
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want bool
	}{
		{"a", 64, true},
		{"Az09_+=,.@-", 64, true},
		{"", 64, false},
		{"a b", 64, false},
		{"a/b", 64, false},
		{"é", 64, false},
		{"abc", 2, false},
	}
	for _, tc := range tests {
		if got := ValidName(tc.in, tc.max); got != tc.want {
			t.Errorf("ValidName(%q, %d) = %v, want %v", tc.in, tc.max, got, tc.want)
		}
	}
}

// TestOnlyChars: names take IAM's set, external IDs STS's, which adds ':'
// and '/'; nothing beyond ASCII letters and digits is ever let in.
func TestOnlyChars(t *testing.T) {
	sets := map[string]struct{ accepted, refused []string }{
		NameChars:       {accepted: []string{"", "Az09_+=,.@-"}, refused: []string{"a:b", "a/b", "a b", "é"}},
		ExternalIDChars: {accepted: []string{"a:b/c_+=,.@-"}, refused: []string{"a b", "a*b", "é", "a\x00"}},
	}
	for extra, set := range sets {
		for _, s := range set.accepted {
			if !OnlyChars(s, extra) {
				t.Errorf("OnlyChars(%q, %q) = false, want true", s, extra)
			}
		}
		for _, s := range set.refused {
			if OnlyChars(s, extra) {
				t.Errorf("OnlyChars(%q, %q) = true, want false", s, extra)
			}
		}
	}
}
