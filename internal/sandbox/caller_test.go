package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"
)

// TestTokenKeyIsNotTheSeeds: a session token signed with a key anyone can
// derive from the seed (serve seeds with the clock, and request IDs show
// it) is refused, whatever role it claims; one signed with the sandbox's
// own key, for the same claims, is accepted. Two sandboxes of one seed
// hold different keys.
func TestTokenKeyIsNotTheSeeds(t *testing.T) {
	const seed = 1234
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Config{Seed: seed, Now: func() time.Time { return now }})
	role := "arn:aws:iam::111122223333:role/rolecall-dev-access"
	if err := s.PutRole(role, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`)); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	gen := s.roles[role].gen
	s.mu.RUnlock()
	claims := sessionClaims{AccessKeyID: "ASIAFORGEDFORGED0001", Role: role, RoleGen: gen, Session: "forged", Expires: now.Add(time.Hour).Unix()}

	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	seedKey := sha256.Sum256(append([]byte("rolecall-sandbox-session-token\x00"), b[:]...))
	plainSeed := sha256.Sum256(b[:])
	tests := []struct {
		name string
		key  []byte
		ok   bool
	}{
		{"the sandbox's key", s.tokenKey, true},
		{"derived from the seed", seedKey[:], false},
		{"the seed hashed", plainSeed[:], false},
		{"another sandbox's of the same seed", New(Config{Seed: seed}).tokenKey, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, apiErr := s.resolveCaller(claims.AccessKeyID, signWith(tt.key, claims))
			if tt.ok {
				if apiErr != nil || c.id.callerARN() != "arn:aws:sts::111122223333:assumed-role/rolecall-dev-access/forged" {
					t.Errorf("resolveCaller = %v, %v", c.id.callerARN(), apiErr)
				}
				return
			}
			if apiErr != errInvalidToken {
				t.Errorf("resolveCaller accepted a token signed with %s (%v)", tt.name, apiErr)
			}
		})
	}
	if len(s.tokenKey) != tokenKeySize {
		t.Errorf("token key of %d bytes, want %d", len(s.tokenKey), tokenKeySize)
	}
}

// signWith renders claims as a session token signed with key, the way
// sessionToken signs with the sandbox's key.
func signWith(key []byte, c sessionClaims) string {
	payload, _ := json.Marshal(c)
	mac := hmac.New(sha256.New, key)
	mac.Write(payload)
	enc := base64.RawURLEncoding
	return tokenPrefix + enc.EncodeToString(payload) + "." + enc.EncodeToString(mac.Sum(nil))
}
