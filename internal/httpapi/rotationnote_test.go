package httpapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/rolecall/rolecall/internal/testkit/tool"
)

// TestRotationNote runs the form's rotationNote (web/static/connect.js)
// under Node on each kind of connection: the note shows for a connection
// verified with an older external ID than the current one, saying whether
// that ID is still accepted, and for no other.
func TestRotationNote(t *testing.T) {
	node := tool.Require(t, "node", "apt-get install nodejs")
	src, err := os.ReadFile("web/static/connect.js")
	if err != nil {
		t.Fatal(err)
	}
	fn := regexp.MustCompile(`(?s)\n  function rotationNote\(c, inv\) \{.*?\n  \}\n`).Find(src)
	if fn == nil {
		t.Fatal("connect.js has no rotationNote")
	}
	grace := map[string]any{"externalId": "rc-V2", "externalIdVersion": 2, "previousExternalId": "rc-V1", "graceEndsAt": "2026-12-10T00:00:00Z"}
	twoBack := map[string]any{"externalId": "rc-V3", "externalIdVersion": 3, "previousExternalId": "rc-V2", "graceEndsAt": "2026-12-10T00:00:00Z"}
	noGrace := map[string]any{"externalId": "rc-V2", "externalIdVersion": 2}
	tests := []struct {
		name string
		conn map[string]any
		inv  map[string]any
		want string // "" for no note
	}{
		{"verified with the current ID", map[string]any{"status": "VERIFIED", "externalIdVersion": 2, "externalIdCurrent": true}, grace, ""},
		{"stored before externalIdCurrent existed", map[string]any{"status": "VERIFIED", "externalIdVersion": 1, "externalIdCurrent": false},
			map[string]any{"externalId": "rc-V1", "externalIdVersion": 1}, ""},
		{"trusts only the previous ID", map[string]any{"status": "VERIFIED", "externalIdVersion": 1, "externalIdCurrent": false}, grace,
			`This role still uses the previous external ID, accepted until 2026-12-10T00:00:00Z. Change its trust policy condition to "sts:ExternalId": ["rc-V2", "rc-V1"], then, once this connection no longer shows this note, to "rc-V2" only.`},
		{"not checked since the rotation", map[string]any{"status": "VERIFIED", "externalIdVersion": 1, "externalIdCurrent": true}, grace,
			`This role was last verified with the previous external ID, accepted until 2026-12-10T00:00:00Z. Change its trust policy condition to "sts:ExternalId": ["rc-V2", "rc-V1"], then, once this connection no longer shows this note, to "rc-V2" only.`},
		{"an ID two rotations back", map[string]any{"status": "ACCESS_LOST", "externalIdVersion": 1, "externalIdCurrent": true}, twoBack,
			`This role was last verified with an external ID that is no longer accepted. Change its trust policy condition to "sts:ExternalId": "rc-V3".`},
		{"the grace over", map[string]any{"status": "VERIFIED", "externalIdVersion": 1, "externalIdCurrent": true}, noGrace,
			`This role was last verified with an external ID that is no longer accepted. Change its trust policy condition to "sts:ExternalId": "rc-V2".`},
		{"a pending connection", map[string]any{"status": "PENDING", "externalIdVersion": 1}, grace, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := json.Marshal(tc.conn)
			inv, _ := json.Marshal(tc.inv)
			script := "function el(tag, cls, text) { return text; }\nfunction when(t) { return t; }\n" + string(fn) +
				"var note = rotationNote(" + string(c) + ", " + string(inv) + ");\nprocess.stdout.write(note === null ? '' : note);"
			out, err := exec.Command(node, "-e", script).CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			if string(out) != tc.want {
				t.Errorf("note %q\nwant %q", out, tc.want)
			}
		})
	}
}
