package sandbox

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sigv4"
	"github.com/rolecall/rolecall/internal/truncate"
)

const (
	stsVersion   = "2011-06-15"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	maxBody      = 64 << 10
)

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		AssumedRoleUser struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
			Expiration      string `xml:"Expiration"`
		} `xml:"Credentials"`
		PackedPolicySize *int `xml:"PackedPolicySize,omitempty"`
	} `xml:"AssumeRoleResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// ServeHTTP serves the STS Query protocol: form-encoded POST (or GET) with
// Action=AssumeRole or Action=GetCallerIdentity and Version=2011-06-15,
// answered with STS's XML documents and error documents. A call with a
// parameter the sandbox does not model for its action is refused
// (modelledParams).
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		s.writeError(w, 0, &APIError{Code: "InvalidAction", Message: "STS accepts GET and POST requests only.", Status: http.StatusMethodNotAllowed})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, 0, &APIError{Code: "RequestEntityTooLarge", Message: "Request body too large.", Status: http.StatusRequestEntityTooLarge})
			return
		}
		s.writeError(w, 0, errMalformedQuery)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body)) // for ParseForm; the signature check reads body
	if err := r.ParseForm(); err != nil {
		s.writeError(w, 0, errMalformedQuery)
		return
	}
	for name, vals := range r.Form {
		if len(vals) > 1 {
			// How STS reads a parameter given twice is not documented:
			// a second ExternalId must not slip past the first.
			s.writeError(w, 0, &APIError{Code: "MalformedQueryString", Status: http.StatusBadRequest,
				Message: fmt.Sprintf("The sandbox does not model the parameter %s given more than once.", truncate.String(name, 64))})
			return
		}
	}
	// The signing time is compared with the wall clock, not s.now: clients
	// sign at the real time even when the sandbox runs on a simulated one.
	signer, apiErr := authentication(r, time.Now())
	if apiErr != nil {
		s.writeError(w, 0, apiErr)
		return
	}
	region := signer.region
	if !rolearn.IsRegionOf(region, s.partition) {
		// A credential is valid in the partition that issued it only.
		s.writeError(w, 0, &APIError{Code: "SignatureDoesNotMatch", Status: http.StatusForbidden,
			Message: fmt.Sprintf("Credential should be scoped to a valid region of partition %s.", s.partition)})
		return
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if token == "" {
		token = r.URL.Query().Get("X-Amz-Security-Token")
	}
	caller, apiErr := s.resolveCaller(signer.accessKeyID, token)
	if apiErr == nil {
		apiErr = s.checkSignature(r, body, signer, token, caller.issued)
	}
	if apiErr == nil {
		apiErr = s.callerRegionRefused(caller, region)
	}
	if apiErr != nil {
		s.writeError(w, 0, apiErr)
		return
	}
	akid := signer.accessKeyID
	seq, err := s.begin(r.Context(), caller.id.account, region)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			s.writeError(w, seq, ae)
		}
		return // the client went away during the injected latency
	}
	action, version := r.Form.Get("Action"), r.Form.Get("Version")
	// modelledParams is the list of the actions served: one missing there
	// is not served, so none is served with its parameters unchecked.
	if _, served := modelledParams[action]; !served || version != stsVersion {
		s.writeError(w, seq, &APIError{Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version %s", action, version), Status: http.StatusBadRequest})
		return
	}
	if names := unmodelledParams(action, r.Form); len(names) > 0 {
		s.writeError(w, seq, unmodelledError(action, names))
		return
	}
	switch action {
	case "AssumeRole":
		s.serveAssumeRole(w, r, seq, caller, region)
	case "GetCallerIdentity":
		arn, account, userID := callerIdentity(caller, akid)
		var resp getCallerIdentityResponse
		resp.Xmlns = stsNamespace
		resp.Result.Arn, resp.Result.Account, resp.Result.UserID = arn, account, userID
		resp.Metadata.RequestID = s.requestID(seq)
		s.writeXML(w, http.StatusOK, resp.Metadata.RequestID, resp)
	default:
		s.writeError(w, seq, &APIError{Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version %s", action, version), Status: http.StatusBadRequest})
	}
}

func (s *STS) serveAssumeRole(w http.ResponseWriter, r *http.Request, seq uint64, caller caller, region string) {
	f := r.Form
	in := assumeInput{
		RoleARN:         f.Get("RoleArn"),
		RoleSessionName: f.Get("RoleSessionName"),
		ExternalID:      f.Get("ExternalId"),
		HasExternalID:   f.Has("ExternalId"),
		Policy:          f.Get("Policy"),
		HasPolicy:       f.Has("Policy"),
	}
	var missing []string
	for _, p := range []string{"RoleArn", "RoleSessionName"} {
		if !f.Has(p) {
			missing = append(missing, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(p)))
		}
	}
	if len(missing) > 0 {
		s.writeError(w, seq, validationError(missing))
		return
	}
	if f.Has("DurationSeconds") {
		d, err := strconv.ParseInt(f.Get("DurationSeconds"), 10, 32)
		if err != nil {
			s.writeError(w, seq, validationError([]string{"Value at 'durationSeconds' failed to satisfy constraint: Member must be an integer"}))
			return
		}
		in.DurationSeconds, in.HasDuration = int32(d), true
	}
	out, apiErr := s.assumeRole(caller, region, in, seq)
	if apiErr != nil {
		s.writeError(w, seq, apiErr)
		return
	}
	var resp assumeRoleResponse
	resp.Xmlns = stsNamespace
	resp.Result.AssumedRoleUser.Arn = out.AssumedRoleARN
	resp.Result.AssumedRoleUser.AssumedRoleID = out.AssumedRoleID
	resp.Result.Credentials.AccessKeyID = out.AccessKeyID
	resp.Result.Credentials.SecretAccessKey = out.SecretAccessKey
	resp.Result.Credentials.SessionToken = out.SessionToken
	resp.Result.Credentials.Expiration = out.Expiration.Format(time.RFC3339)
	if in.HasPolicy {
		resp.Result.PackedPolicySize = &out.PackedPolicy
	}
	resp.Metadata.RequestID = s.requestID(seq)
	s.writeXML(w, http.StatusOK, resp.Metadata.RequestID, resp)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// signedBy is how a request is signed: an Authorization header (sig), or a
// presigned URL's X-Amz-Credential (sig empty).
type signedBy struct {
	accessKeyID, region, service string
	sig                          *sigv4.Signature
}

// authentication reads who signed r, and for which Region and service: from
// its Authorization header, or from X-Amz-Credential of a presigned URL. A
// request signed for another service than STS is refused, and so is one
// whose signing time is not on its credential scope's day, or, received at
// now, too old or too new (sigv4.MaxSkew). The signature itself is checked
// by checkSignature.
func authentication(r *http.Request, now time.Time) (signedBy, *APIError) {
	sig, err := sigv4.Parse(r)
	var a signedBy
	switch {
	case err == nil:
		if err := sigv4.CheckTime(r, sig, now); err != nil {
			return signedBy{}, timeRefused(err)
		}
		a = signedBy{accessKeyID: sig.AccessKeyID, region: sig.Region, service: sig.Service, sig: &sig}
	case errors.Is(err, sigv4.ErrMissing) && r.Header.Get("Authorization") == "":
		// AKID/date/region/service/aws4_request
		q := r.URL.Query()
		fields := strings.Split(q.Get("X-Amz-Credential"), "/")
		if len(fields) != 5 || fields[0] == "" || fields[4] != "aws4_request" {
			return signedBy{}, errMissingAuthentication
		}
		// The form of a presigned signature is checked, for a precise
		// answer; checkSignature then refuses it as not modelled.
		if !presigned(q) {
			return signedBy{}, errIncompleteSignature
		}
		a = signedBy{accessKeyID: fields[0], region: fields[2], service: fields[3]}
	case errors.Is(err, sigv4.ErrMissing):
		// An Authorization header of another scheme: not SigV4, and not a
		// presigned request either.
		return signedBy{}, errMissingAuthentication
	default:
		return signedBy{}, errIncompleteSignature
	}
	if a.service != "sts" {
		return signedBy{}, &APIError{Code: "SignatureDoesNotMatch", Message: "Credential should be scoped to correct service: 'sts'.", Status: http.StatusForbidden}
	}
	return a, nil
}

// presigned reports whether a presigned URL's query has the form of a
// SigV4 signature: the algorithm, a signing time, the signed headers
// (host among them) and a hex SHA-256 signature.
func presigned(q url.Values) bool {
	_, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	sig := q.Get("X-Amz-Signature")
	_, hexErr := hex.DecodeString(sig)
	return q.Get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256" && err == nil &&
		slices.Contains(strings.Split(q.Get("X-Amz-SignedHeaders"), ";"), "host") &&
		len(sig) == 64 && hexErr == nil
}

// timeRefused is STS's answer to a request refused for its signing time
// (sigv4.CheckTime): IncompleteSignature for a missing or
// malformed one, else SignatureDoesNotMatch saying why.
func timeRefused(err error) *APIError {
	if errors.Is(err, sigv4.ErrIncomplete) {
		return errIncompleteSignature
	}
	return &APIError{Code: "SignatureDoesNotMatch", Status: http.StatusForbidden, Message: sigv4.Message(err)}
}

var (
	errMissingAuthentication = &APIError{Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token", Status: http.StatusForbidden}
	errMalformedQuery        = &APIError{Code: "MalformedQueryString", Message: "The query string is malformed.", Status: http.StatusBadRequest}
	errIncompleteSignature   = &APIError{Code: "IncompleteSignature", Message: "The request signature does not conform to AWS standards.", Status: http.StatusBadRequest}
	errSignature             = &APIError{Code: "SignatureDoesNotMatch", Status: http.StatusForbidden,
		Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
)

// checkSignature checks the SigV4 signature of a request against the
// secret of the key that signed it, which the sandbox derives: a session's
// it issued (sessionSecret), or a configured key's (CallerSecret). Such a
// request must be signed in its Authorization header: the sandbox does not
// check presigned URLs, so it refuses them rather than take them
// unchecked.
func (s *STS) checkSignature(r *http.Request, body []byte, a signedBy, token string, issued bool) *APIError {
	if a.sig == nil {
		return &APIError{Code: "IncompleteSignature", Status: http.StatusBadRequest,
			Message: "The sandbox checks signatures in the Authorization header only; a presigned request is not modelled."}
	}
	secret := s.callerSecret
	if issued {
		secret = s.sessionSecret
	}
	creds := aws.Credentials{AccessKeyID: a.accessKeyID, SecretAccessKey: secret(a.accessKeyID), SessionToken: token}
	err := sigv4.Verify(r.Context(), r, body, *a.sig, creds, "sts")
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sigv4.ErrIncomplete):
		return errIncompleteSignature
	default:
		return errSignature
	}
}

// requestID is a deterministic UUID-shaped request ID for the call.
func (s *STS) requestID(seq uint64) string {
	t := s.token(seq, "request-id")
	b := []byte(hex.EncodeToString([]byte(t))[:32])
	return fmt.Sprintf("%s-%s-%s-%s-%s", b[0:8], b[8:12], b[12:16], b[16:20], b[20:32])
}

func (s *STS) writeError(w http.ResponseWriter, seq uint64, e *APIError) {
	var resp errorResponse
	resp.Xmlns = stsNamespace
	resp.Error.Type = "Sender"
	if e.Status >= 500 {
		resp.Error.Type = "Receiver"
	}
	resp.Error.Code, resp.Error.Message = e.Code, e.Message
	resp.RequestID = s.requestID(seq)
	s.writeXML(w, e.Status, resp.RequestID, resp)
}

func (s *STS) writeXML(w http.ResponseWriter, status int, requestID string, v any) {
	body, err := xml.Marshal(v)
	if err != nil { // the response types always marshal
		http.Error(w, "sandbox: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}
