package onboarding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Error codes of registration tokens and stack registrations.
const (
	CodeInvalidTTL    = "INVALID_TTL"
	CodeTooManyTokens = "TOO_MANY_TOKENS"
	CodeInvalidToken  = "INVALID_REGISTRATION_TOKEN"
	CodeTokenExpired  = "REGISTRATION_TOKEN_EXPIRED"
	CodeTokenRevoked  = "REGISTRATION_TOKEN_REVOKED"
	// CodeAnswerNotSent: a stack's request was handled, but putting its
	// answer to the request's ResponseURL failed; the same request
	// delivered again is answered again (as recorded, or decided again
	// where nothing was recorded).
	CodeAnswerNotSent      = "ANSWER_NOT_SENT"
	CodeStackDeleted       = connection.CodeStackDeleted
	registrationTokenField = "RegistrationToken"
)

// TokenStore is what registration needs of the store
// (store.Registrations implements it).
type TokenStore interface {
	PutRegistrationToken(ctx context.Context, t registration.Token) error
	GetRegistrationToken(ctx context.Context, hash string) (registration.Token, error)
	ListRegistrationTokens(ctx context.Context, tenantID string) ([]registration.Token, error)
	RevokeRegistrationToken(ctx context.Context, tenantID, tokenID string, at time.Time) (registration.Token, error)
}

// Registrations are the operations on registration tokens, and the
// disconnection a deleted stack asks for. They act through Service, so a
// stack's registration is validated, limited and stored exactly as a form
// submission is.
type Registrations struct {
	Service *Service
	Tokens  TokenStore
}

// CreateToken issues a registration token for a tenant; ttl 0 is the
// default lifetime. The secret is returned once.
func (r *Registrations) CreateToken(ctx context.Context, tenantID string, ttl time.Duration) (string, registration.Token, error) {
	return r.create(ctx, tenantID, ttl, "")
}

// CreateTokenForInvite issues a registration token on the form, for the
// tenant of the invite whose stored digest is inviteHash: at most
// registration.MaxPerInvite per invite, with the default lifetime (a
// StackSet enrols accounts long after the invite expires).
func (r *Registrations) CreateTokenForInvite(ctx context.Context, tenantID, inviteHash string) (string, registration.Token, error) {
	if inviteHash == "" {
		return "", registration.Token{}, errors.New("create registration token for an invite: no invite")
	}
	return r.create(ctx, tenantID, 0, inviteHash)
}

func (r *Registrations) create(ctx context.Context, tenantID string, ttl time.Duration, inviteHash string) (string, registration.Token, error) {
	if _, err := r.Service.Tenant(ctx, tenantID); err != nil {
		return "", registration.Token{}, err
	}
	now := r.Service.now()
	if _, _, err := registration.New(tenantID, now, ttl); err != nil {
		return "", registration.Token{}, &Error{Code: CodeInvalidTTL, Field: "ttlSeconds", Message: err.Error(), Err: err}
	}
	list, err := r.Tokens.ListRegistrationTokens(ctx, tenantID)
	if err != nil {
		return "", registration.Token{}, fmt.Errorf("create registration token for %s: %w", tenantID, err)
	}
	live, byInvite := 0, 0
	for _, t := range list {
		if t.Live(now) {
			live++
		}
		if inviteHash != "" && t.InviteHash == inviteHash {
			byInvite++
		}
	}
	if live >= registration.MaxLive {
		return "", registration.Token{}, tooManyLive()
	}
	tooMany := &Error{Code: CodeTooManyTokens, Message: fmt.Sprintf("an invite creates at most %d registration tokens; reuse one you have, or ask the partner", registration.MaxPerInvite)}
	if byInvite >= registration.MaxPerInvite {
		return "", registration.Token{}, tooMany
	}
	if inviteHash != "" {
		// The listing above is read before the write, so requests that
		// arrive together would all pass it: the invite's count is also
		// held in the store, where each creation takes one atomically. It
		// outlives the invite (30 days at most, and the invite was made
		// before now). A write that then fails has spent its count.
		ok, err := r.Service.Store.Hit(ctx, "regtokens#"+inviteHash, time.Unix(0, 0).UTC(), registration.MaxPerInvite, now.Add(tenant.MaxInviteTTL))
		if err != nil {
			return "", registration.Token{}, fmt.Errorf("count registration tokens of an invite of %s: %w", tenantID, err)
		}
		if !ok {
			return "", registration.Token{}, tooMany
		}
	}
	for attempt := 0; ; attempt++ {
		secret, tok, _ := registration.New(tenantID, now, ttl) // ttl was validated above
		if inviteHash != "" {
			tok.Via, tok.InviteHash = registration.ViaInvite, inviteHash
		}
		err := r.Tokens.PutRegistrationToken(ctx, tok)
		if errors.Is(err, store.ErrConflict) && attempt < 2 {
			continue // a random ID collided: draw again
		}
		if err != nil {
			return "", registration.Token{}, fmt.Errorf("create registration token for %s: %w", tenantID, err)
		}
		if err := r.recount(ctx, tok, now); err != nil {
			return "", registration.Token{}, err
		}
		return secret, tok, nil
	}
}

// recount counts the tenant's live tokens again once tok is written. The
// listing create checked was read before the write, so creations sent
// together could all pass it; read again now (a consistent read, which
// sees every token written before it), tok over the limit is revoked
// before its secret is shown, and refused. Of creations that race, the
// last to write is refused, possibly all of them, and no more than
// MaxLive tokens stay live. A recount that fails revokes tok too: no
// token is left that nobody holds.
func (r *Registrations) recount(ctx context.Context, tok registration.Token, now time.Time) error {
	list, err := r.Tokens.ListRegistrationTokens(ctx, tok.TenantID)
	if err != nil {
		err = fmt.Errorf("count registration tokens of %s: %w", tok.TenantID, err)
	} else {
		live := 0
		for _, t := range list {
			if t.Live(now) {
				live++
			}
		}
		if live <= registration.MaxLive {
			return nil
		}
		err = tooManyLive()
	}
	if _, rerr := r.Tokens.RevokeRegistrationToken(ctx, tok.TenantID, tok.ID, now); rerr != nil {
		return errors.Join(err, fmt.Errorf("revoke the registration token not handed out: %w", rerr))
	}
	return err
}

// tooManyLive refuses a token over the tenant's limit of live ones.
func tooManyLive() error {
	return &Error{Code: CodeTooManyTokens, Message: fmt.Sprintf("a tenant holds at most %d live registration tokens; revoke one first", registration.MaxLive)}
}

// ListTokens lists a tenant's registration tokens (never their secrets).
func (r *Registrations) ListTokens(ctx context.Context, tenantID string) ([]registration.Token, error) {
	if _, err := r.Service.Tenant(ctx, tenantID); err != nil {
		return nil, err
	}
	list, err := r.Tokens.ListRegistrationTokens(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list registration tokens of %s: %w", tenantID, err)
	}
	return list, nil
}

// RevokeToken revokes a tenant's token; stacks presenting it are refused
// from then on.
func (r *Registrations) RevokeToken(ctx context.Context, tenantID, tokenID string) (registration.Token, error) {
	if _, err := r.Service.Tenant(ctx, tenantID); err != nil {
		return registration.Token{}, err
	}
	notFound := &Error{Code: CodeNotFound, Field: "tokenId", Message: fmt.Sprintf("tenant %q has no registration token %q", tenantID, tokenID)}
	if !registration.WellFormedID(tokenID) {
		return registration.Token{}, notFound
	}
	t, err := r.Tokens.RevokeRegistrationToken(ctx, tenantID, tokenID, r.Service.now())
	if errors.Is(err, store.ErrNotFound) {
		notFound.Err = err
		return registration.Token{}, notFound
	}
	if err != nil {
		return registration.Token{}, fmt.Errorf("revoke registration token %s of %s: %w", tokenID, tenantID, err)
	}
	return t, nil
}

// Authenticate returns the tenant a registration token acts for, or an
// *Error (INVALID_REGISTRATION_TOKEN, REGISTRATION_TOKEN_EXPIRED,
// REGISTRATION_TOKEN_REVOKED) that says what to do.
func (r *Registrations) Authenticate(ctx context.Context, secret string) (tenant.Tenant, registration.Token, error) {
	return r.authenticate(ctx, secret, false)
}

// AuthenticateDeletion is Authenticate for a deleted stack's token, which
// may have expired: expiry bounds when a token registers roles, not when
// the stack that registered one may undo it (a stack often outlives its
// token's year). A revoked token is refused still: revoking ends every
// use. What the deletion may change is bound to the stack the connection
// records (StackRoleDeleted), so an expired token undoes only its own
// stack's registration.
func (r *Registrations) AuthenticateDeletion(ctx context.Context, secret string) (tenant.Tenant, registration.Token, error) {
	return r.authenticate(ctx, secret, true)
}

func (r *Registrations) authenticate(ctx context.Context, secret string, expiredOK bool) (tenant.Tenant, registration.Token, error) {
	refuse := func(err error) (tenant.Tenant, registration.Token, error) {
		code := CodeInvalidToken
		switch {
		case errors.Is(err, registration.ErrExpired):
			code = CodeTokenExpired
		case errors.Is(err, registration.ErrRevoked):
			code = CodeTokenRevoked
		}
		return tenant.Tenant{}, registration.Token{}, &Error{Code: code, Field: registrationTokenField, Message: err.Error(), Err: err}
	}
	if !registration.WellFormed(secret) {
		return refuse(registration.ErrInvalid)
	}
	tok, err := r.Tokens.GetRegistrationToken(ctx, registration.Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return refuse(registration.ErrInvalid)
	}
	if err != nil {
		return tenant.Tenant{}, registration.Token{}, fmt.Errorf("authenticate registration token: %w", err)
	}
	if err := tok.Check(secret, r.Service.now()); err != nil && !(expiredOK && errors.Is(err, registration.ErrExpired)) {
		return refuse(err)
	}
	t, err := r.Service.Store.GetTenant(ctx, tok.TenantID)
	if err != nil {
		return tenant.Tenant{}, registration.Token{}, fmt.Errorf("authenticate registration token of %s: %w", tok.TenantID, err)
	}
	return t, tok, nil
}

// StackDeletion is what deleting a stack did to the connection it
// registered.
type StackDeletion int

// What a stack's deletion does, by the role the stack registered.
const (
	// StackRoleUnused: the connection uses the stack's role neither as its
	// role nor as its pending candidate; nothing changed.
	StackRoleUnused StackDeletion = iota
	// StackDisconnected: the stack's role was the connection's role; the
	// connection is disconnected (STACK_DELETED), and a pending candidate
	// is dropped with it.
	StackDisconnected
	// StackCandidateDropped: the stack's role was the connection's pending
	// candidate; the candidate is dropped (STACK_DELETED) and the verified
	// role stays in use.
	StackCandidateDropped
	// StackResourceReplaced: the deleted resource registered the role in
	// use, and a newer resource of its stack submitted the pending
	// candidate (the resource was renamed along with its role): the newer
	// resource takes the registration over, and the candidate goes on.
	StackResourceReplaced
)

// stackDeletedReason is the reason of a connection disconnected because
// its stack was deleted.
var stackDeletedReason = connection.Reason{Code: CodeStackDeleted,
	Message: "The CloudFormation stack that registered the role was deleted; RoleCall no longer uses the role.",
	Hint:    "To connect the account again, create the stack again or submit the role in the form."}

// candidateDeletedReason is the reason of a candidate dropped because the
// stack that submitted it was deleted.
var candidateDeletedReason = connection.Reason{Code: CodeStackDeleted,
	Message: "The CloudFormation stack that submitted the new role was deleted; RoleCall keeps using the verified role.",
	Hint:    "To replace the role, create the stack again or submit the new role in the form."}

// SubmitFromStack is Service.Submit by the registration resource (its
// LogicalResourceId) of the CloudFormation stack stackID: the connection,
// or the candidate, that the submission creates records both
// (Connection.Stack, StackResource), so that only that resource's deletion
// undoes it. The role in use submitted again by another resource of the
// stack that registered it is taken over by the new resource.
func (r *Registrations) SubmitFromStack(ctx context.Context, t tenant.Tenant, roleARN, stackID, resource string) (connection.Connection, error) {
	return r.Service.submit(ctx, t, roleARN, stackID, resource)
}

// StackRoleDeleted undoes what the deleted stack stackID did when it
// registered roleARN for the account, as its customer expects, deciding on
// the connection as it is when written. Only what that stack registered
// counts (Connection.Stack, Candidate.Stack): a role the form or another
// stack submitted is left alone.
//   - roleARN is the role in use: the connection is disconnected, and a
//     candidate pending beside it is dropped with it (the stack is gone, so
//     is the access it granted; a candidate submitted since would replace a
//     role that no longer exists, and the customer submits it again).
//   - roleARN is the pending candidate of a stack that also registered the
//     role in use (an Update of its role, still being verified): the same,
//     the connection is disconnected.
//   - roleARN is the pending candidate of another stack than the role in
//     use: only the candidate is dropped; the verified role, which the stack
//     did not register, stays in use.
//   - otherwise the connection is left as it is (it uses another role now).
//
// An unknown connection is NOT_FOUND.
func (r *Registrations) StackRoleDeleted(ctx context.Context, t tenant.Tenant, accountID, roleARN, stackID, resource string) (connection.Connection, StackDeletion, error) {
	s := r.Service
	for attempt := 0; ; attempt++ {
		c, err := s.Connection(ctx, t.ID, accountID)
		if err != nil {
			return connection.Connection{}, StackRoleUnused, err
		}
		var tr connection.Transition
		d := stackDeletion(c, roleARN, stackID, resource)
		switch d {
		case StackRoleUnused:
			return c, d, nil
		case StackDisconnected:
			tr = s.Policy.Disconnect(c, t.ExternalIDVersion, s.now())
			if tr.Event != nil { // disconnected already (an operator did): nothing changes
				tr.After.Reason, tr.Event.Reason = stackDeletedReason, stackDeletedReason
			}
		case StackCandidateDropped:
			if tr, err = s.Policy.DropCandidate(c, candidateDeletedReason, t.ExternalIDVersion, s.now()); err != nil {
				return connection.Connection{}, StackRoleUnused, fmt.Errorf("drop the candidate of the deleted stack of %s/%s: %w", t.ID, accountID, err)
			}
		case StackResourceReplaced:
			tr = connection.Transition{Before: &c, After: c}
			tr.After.StackResource = c.Candidate.StackResource
		}
		if !tr.Changed() {
			return c, d, nil
		}
		err = s.Store.Apply(ctx, tr)
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return connection.Connection{}, StackRoleUnused, fmt.Errorf("undo the deleted stack of %s/%s: %w", t.ID, accountID, err)
		}
		if d == StackDisconnected {
			s.settleAfterRelease(ctx, t, c)
		}
		return tr.After, d, nil
	}
}

// stackDeletion is what deleting the registration resource resource of
// the stack stackID, that registered roleARN, does to c. A resource other
// than the one recorded (a registration recorded before resources were
// records none) was replaced by it in its stack: its deletion changes
// nothing.
func stackDeletion(c connection.Connection, roleARN, stackID, resource string) StackDeletion {
	ours := func(stack, res string) bool { return stack == stackID && (res == "" || res == resource) }
	candidate := c.Candidate.Pending() && c.Candidate.RoleARN == roleARN && ours(c.Candidate.Stack, c.Candidate.StackResource)
	// The stack's newer resource submitted a candidate (the resource was
	// renamed along with its role): the old one's deletion leaves the
	// candidate to replace the role, the newer resource taking the role
	// in use over (its own deletion, naming that candidate while it is
	// pending, then undoes the registration).
	replaced := c.Candidate.Pending() && c.Candidate.Stack == stackID && c.Candidate.StackResource != "" && c.Candidate.StackResource != resource
	switch {
	case stackID == "":
	case replaced && ours(c.Stack, c.StackResource) && c.RoleARN == roleARN:
		return StackResourceReplaced
	case replaced:
	case ours(c.Stack, c.StackResource) && (c.RoleARN == roleARN || candidate):
		return StackDisconnected
	case candidate:
		return StackCandidateDropped
	}
	return StackRoleUnused
}
