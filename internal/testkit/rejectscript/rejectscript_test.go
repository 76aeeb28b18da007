package rejectscript

import "testing"

func TestScriptHandsOutCodesInOrder(t *testing.T) {
	var s Script
	if got := s.Next(); got != "" {
		t.Fatalf("empty script gave %q, want accept", got)
	}
	s.Push("ThrottlingException", "")
	s.Push("InternalFailure")
	for i, want := range []string{"ThrottlingException", "", "InternalFailure", "", ""} {
		if got := s.Next(); got != want {
			t.Fatalf("entry %d got %q, want %q", i, got, want)
		}
	}
}
