package emulator

import (
	"reflect"
	"testing"

	"github.com/rolecall/rolecall/internal/bus"
)

func TestAccepted(t *testing.T) {
	a, b, c := bus.Entry{DetailType: "a"}, bus.Entry{DetailType: "b"}, bus.Entry{DetailType: "c"}
	tests := []struct {
		name   string
		failed []bus.Failure
		want   []bus.Entry
	}{
		{"none refused", nil, []bus.Entry{a, b, c}},
		{"the middle one refused", []bus.Failure{{Index: 1}}, []bus.Entry{a, c}},
		{"first and last refused", []bus.Failure{{Index: 2}, {Index: 0}}, []bus.Entry{b}},
		{"all refused", []bus.Failure{{Index: 0}, {Index: 1}, {Index: 2}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := accepted([]bus.Entry{a, b, c}, tc.failed); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("accepted %v, want %v", got, tc.want)
			}
		})
	}
}
