package local

import "github.com/rolecall/rolecall/internal/store"

// registrationsOf is the registration store beside st: the DynamoDB table
// itself when st is the DynamoDB adapter, else an embedded one.
func registrationsOf(st store.Store) store.Registrations {
	if r, ok := st.(store.Registrations); ok {
		return r
	}
	return store.NewMemoryRegistrations()
}
