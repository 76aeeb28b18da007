package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/rolecall/rolecall/internal/tenant"
)

// OpsAuth authorizes a request to an operations route. It returns nil to
// allow it, or an error: ErrUnauthenticated (401) or ErrForbidden (403).
type OpsAuth interface {
	AuthorizeOps(r *http.Request) error
}

// Authorization failures an OpsAuth returns; match with errors.Is.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
)

// BearerToken authorizes `Authorization: Bearer <token>` (serve mode). The
// comparison is constant-time (over SHA-256 digests, so not even the
// token's length leaks).
type BearerToken struct{ digest [32]byte }

// NewBearerToken returns an OpsAuth accepting token, which must not be empty.
func NewBearerToken(token string) (*BearerToken, error) {
	if token == "" {
		return nil, errors.New("httpapi: the ops token is empty")
	}
	return &BearerToken{digest: sha256.Sum256([]byte(token))}, nil
}

// AuthorizeOps implements OpsAuth.
func (b *BearerToken) AuthorizeOps(r *http.Request) error {
	tok, ok := credential(r, "Bearer")
	if !ok {
		return ErrUnauthenticated
	}
	got := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(got[:], b.digest[:]) != 1 {
		return ErrUnauthenticated
	}
	return nil
}

// APIGatewayIAM authorizes requests that API Gateway's AWS_IAM authorizer
// has already authenticated (Lambda mode): defence in depth, so that the ops
// routes stay closed even if the authorizer were removed from a route. It
// reads the request context that httpadapter's ProxyWithContext stores,
// never a header a client could forge.
type APIGatewayIAM struct {
	// Accounts, when set, are the only AWS accounts whose principals may
	// call the ops routes.
	Accounts []string
}

// AuthorizeOps implements OpsAuth.
func (a APIGatewayIAM) AuthorizeOps(r *http.Request) error {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.IAM == nil {
		return ErrForbidden
	}
	iam := rc.Authorizer.IAM
	if iam.UserARN == "" && iam.CallerID == "" {
		return ErrForbidden
	}
	if len(a.Accounts) > 0 && !slices.Contains(a.Accounts, iam.AccountID) {
		return ErrForbidden
	}
	return nil
}

// credential returns the credentials of an Authorization header with the
// given scheme (case-insensitive).
func credential(r *http.Request, scheme string) (string, bool) {
	v := r.Header.Get("Authorization")
	s, c, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(s, scheme) {
		return "", false
	}
	c = strings.TrimSpace(c)
	return c, c != ""
}

// ops wraps an operations route with OpsAuth.
func (h *Handler) ops(next func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.cfg.Ops.AuthorizeOps(r); err != nil {
			if errors.Is(err, ErrUnauthenticated) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="rolecall-ops"`)
				refuse(w, refused(CodeUnauthenticated, "this route needs the operations credentials", ""))
				return
			}
			refuse(w, refused(CodeForbidden, "the caller may not use the operations routes", ""))
			return
		}
		if err := next(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// customer wraps a customer route: `Authorization: Invite <code>` must name
// a valid invite; the handler acts for the invite's tenant only.
func (h *Handler) customer(next func(http.ResponseWriter, *http.Request, tenant.Tenant) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, ok := credential(r, "Invite")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Invite realm="rolecall"`)
			refuse(w, refused(CodeUnauthenticated, "send the invite code as `Authorization: Invite <code>`", ""))
			return
		}
		t, err := h.cfg.Service.ResolveInvite(r.Context(), code)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if err := next(w, r, t); err != nil {
			h.fail(w, r, err)
		}
	})
}
