package connection

import (
	"encoding/json"
	"time"

	"github.com/rolecall/rolecall/internal/tenant"
)

// How a rotation completed (Event.Completion of External ID Rotation
// Completed).
const (
	// CompletionAllCurrent: every connection that holds a claim verified
	// with the current external ID before the grace ended.
	CompletionAllCurrent = "ALL_CURRENT"
	// CompletionGraceEnded: the grace period ended.
	CompletionGraceEnded = "GRACE_ENDED"
	// CompletionRevoked: the rotation had no grace period.
	CompletionRevoked = "REVOKED"
	// CompletionSuperseded: another rotation started during the grace.
	CompletionSuperseded = "SUPERSEDED"
)

// TenantEventID is the stable identifier of a tenant event: one per
// detail-type and external-ID version.
func TenantEventID(tenantID string, dt DetailType, externalIDVersion int) string {
	return stableID(tenantID, string(dt), uint64(externalIDVersion))
}

// RotationStarted is the event of t's rotation to its current external ID
// (t as rotated). It names versions and times, never an external ID.
func RotationStarted(t tenant.Tenant) Event {
	ev := Event{EventID: TenantEventID(t.ID, ExternalIDRotationStarted, t.ExternalIDVersion), DetailType: ExternalIDRotationStarted,
		TenantID: t.ID, OccurredAt: t.RotatedAt.UTC(), Version: int64(t.ExternalIDVersion), ExternalIDVersion: t.ExternalIDVersion,
		PreviousExternalIDVersion: t.ExternalIDVersion - 1, GraceEndsAt: t.RotatedAt.UTC()}
	if t.InGrace() {
		ev.GraceEndsAt = t.GraceEndsAt.UTC()
	}
	return ev
}

// RotationCompleted is the event of the end of t's rotation (t as it was,
// before its previous external ID was retired) at time at. Its GraceEndsAt
// is when the previous external ID stopped being accepted: the grace's
// planned end once it has passed (GRACE_ENDED, or SUPERSEDED by a rotation
// made after it before a sweep noticed), otherwise at, since a rotation
// without grace (REVOKED) or completed early (ALL_CURRENT, SUPERSEDED)
// retires the previous ID at once.
func RotationCompleted(t tenant.Tenant, completion string, at time.Time) Event {
	graceEnd := t.GraceEndsAt.UTC()
	if graceEnd.IsZero() || graceEnd.After(at) {
		graceEnd = at.UTC()
	}
	return Event{EventID: TenantEventID(t.ID, ExternalIDRotationCompleted, t.ExternalIDVersion), DetailType: ExternalIDRotationCompleted,
		TenantID: t.ID, OccurredAt: at.UTC(), Version: int64(t.ExternalIDVersion), ExternalIDVersion: t.ExternalIDVersion,
		PreviousExternalIDVersion: t.ExternalIDVersion - 1, GraceEndsAt: graceEnd, Completion: completion}
}

// tenantDetail is the EventBridge detail of a tenant event.
type tenantDetail struct {
	EventID                   string    `json:"eventId"`
	TenantID                  string    `json:"tenantId"`
	ExternalIDVersion         int       `json:"externalIdVersion"`
	PreviousExternalIDVersion int       `json:"previousExternalIdVersion"`
	GraceEndsAt               time.Time `json:"graceEndsAt"`
	Completion                string    `json:"completion,omitempty"`
	OccurredAt                time.Time `json:"occurredAt"`
	Version                   int64     `json:"version"`
}

// MarshalJSON renders the event as its EventBridge detail: a connection's
// fields, or, for a tenant's detail-type, the tenant event's.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.DetailType.OfTenant() {
		return json.Marshal(tenantDetail{EventID: e.EventID, TenantID: e.TenantID, ExternalIDVersion: e.ExternalIDVersion,
			PreviousExternalIDVersion: e.PreviousExternalIDVersion, GraceEndsAt: e.GraceEndsAt, Completion: e.Completion,
			OccurredAt: e.OccurredAt, Version: e.Version})
	}
	type plain Event // no methods: the default encoding
	return json.Marshal(plain(e))
}
