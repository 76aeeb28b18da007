package refusal

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsMatchesOnCode(t *testing.T) {
	sentinel := &Error{Code: "EXPIRED", Message: "generic"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"same code, other message", &Error{Code: "EXPIRED", Message: "specific"}, true},
		{"wrapped", fmt.Errorf("ctx: %w", &Error{Code: "EXPIRED"}), true},
		{"other code", &Error{Code: "REVOKED"}, false},
		{"not a refusal", errors.New("EXPIRED"), false},
	}
	for _, tc := range tests {
		if got := errors.Is(tc.err, sentinel); got != tc.want {
			t.Errorf("%s: errors.Is = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAsAndUnwrap(t *testing.T) {
	cause := errors.New("cause")
	e := New("BAD", "roleArn", "value %d is bad", 7)
	e.Err = cause
	wrapped := fmt.Errorf("outer: %w", e)
	got := As(wrapped)
	if got != e {
		t.Fatalf("As = %v, want %v", got, e)
	}
	if got.Error() != "BAD: value 7 is bad" || got.Field != "roleArn" {
		t.Fatalf("got %q field %q", got.Error(), got.Field)
	}
	if !errors.Is(wrapped, cause) {
		t.Fatal("cause not reachable through Unwrap")
	}
	if As(errors.New("plain")) != nil || As(nil) != nil {
		t.Fatal("As found a refusal in a plain error")
	}
}
