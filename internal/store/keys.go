package store

import (
	"fmt"
	"strconv"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

// Keys of the single table (see DynamoDB).
const (
	skTenant     = "TENANT"
	skExternalID = "EXTID"
	skInvite     = "INVITE"
	skClaim      = "CLAIM"
	skRate       = "RATE"
	invitePrefix = "INVITE#"
	connPrefix   = "CONN#"
	eventPrefix  = "EVENT#"
	// tenantEventPrefix: a tenant's own events (rotations).
	tenantEventPrefix = "TEVENT#"
	duePrefix         = "DUE#"
)

func tenantPK(id string) string    { return "TENANT#" + id }
func externalIDPK(x string) string { return "EXTID#" + x }
func invitePK(hash string) string  { return "INVITE#" + hash }
func claimPK(key string) string    { return "CLAIM#" + key }
func inviteSK(id string) string    { return invitePrefix + id }
func ratePK(key string, window time.Time) string {
	return "RATE#" + key + "#" + window.UTC().Format(dueTimeLayout)
}
func connSK(account string) string  { return connPrefix + account }
func eventSKPrefix(a string) string { return eventPrefix + a + "#" }
func eventSK(account string, version int64) string {
	return fmt.Sprintf("%s%020d", eventSKPrefix(account), version)
}
func dueShardKey(n int) string { return duePrefix + strconv.Itoa(n) }

// tenantEventSK sorts a tenant's rotation events by version, Started
// before Completed.
func tenantEventSK(dt connection.DetailType, version int64) string {
	kind := "1-started"
	if dt == connection.ExternalIDRotationCompleted {
		kind = "2-completed"
	}
	return fmt.Sprintf("%s%020d#%s", tenantEventPrefix, version, kind)
}

// dueTimeLayout is fixed-width, so due keys sort by time as strings.
const dueTimeLayout = "2006-01-02T15:04:05.000000000Z"

func dueTime(t time.Time) string { return t.UTC().Format(dueTimeLayout) }

// connOrder is "<tenant>#<account>", the order of connection listings.
func connOrder(tenantID, accountID string) string { return tenantID + "#" + accountID }

// dueOrder is the order of Due: next check time, tenant, account.
func dueOrder(c connection.Connection) string {
	return dueTime(c.NextCheckAt) + "#" + connOrder(c.TenantID, c.AccountID)
}

// dueIndexed reports whether c belongs in the due index.
func dueIndexed(c connection.Connection) bool { return c.Live() && !c.NextCheckAt.IsZero() }
