package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// STSAPI is the part of *sts.Client the adapter uses.
type STSAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// STS is the AWS adapter of the Assumer port.
type STS struct {
	Client STSAPI
}

var _ Assumer = (*STS)(nil)

// AssumeRole calls sts:AssumeRole and keeps only the identity: the
// credentials in the response are dropped here.
func (s *STS) AssumeRole(ctx context.Context, in AssumeRequest) (Session, error) {
	input := &sts.AssumeRoleInput{
		RoleArn:         aws.String(in.RoleARN),
		RoleSessionName: aws.String(in.SessionName),
		DurationSeconds: aws.Int32(in.DurationSeconds),
	}
	if in.Policy != "" {
		input.Policy = aws.String(in.Policy)
	}
	if in.ExternalID != "" {
		input.ExternalId = aws.String(in.ExternalID)
	}
	out, err := s.Client.AssumeRole(ctx, input)
	if err != nil {
		return Session{}, Classify(err)
	}
	out.Credentials = nil
	if out.AssumedRoleUser == nil || out.AssumedRoleUser.Arn == nil {
		return Session{}, &STSError{Kind: ErrTransient, Code: "MalformedResponse", Err: errors.New("AssumeRole response without AssumedRoleUser")}
	}
	// An identity that is not a role session is no evidence of the
	// account the role is in: read as ACCOUNT_MISMATCH it would blame the
	// customer for a response STS never sends. Nor is a session of another
	// role than the one asked for (IAM role names are unique whatever
	// their case, and a session ARN names the role without its path)
	// evidence about that one: it must never count as the role assumed.
	arn := aws.ToString(out.AssumedRoleUser.Arn)
	p, err := rolearn.ParsePrincipal(arn)
	if err != nil || p.Kind != rolearn.KindAssumedRole {
		return Session{}, &STSError{Kind: ErrTransient, Code: "MalformedResponse", Err: fmt.Errorf("AssumeRole response names %q, not a role session", arn)}
	}
	if role, err := rolearn.Parse(in.RoleARN, rolearn.Rules{}); err == nil && (p.Partition != role.Partition || !strings.EqualFold(p.Name, role.Name)) {
		return Session{}, &STSError{Kind: ErrTransient, Code: "MalformedResponse", Err: fmt.Errorf("AssumeRole of %s answered with a session of another role, %s", in.RoleARN, arn)}
	}
	return Session{AssumedRoleARN: arn, AccountID: p.Account}, nil
}

// Classify maps an STS client error to an *STSError by the API error code
// and HTTP status the SDK reports, never by the message text.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
		switch code {
		case "AccessDenied", "AccessDeniedException":
			return &STSError{Kind: ErrDenied, Code: code, Err: err}
		case "RegionDisabledException":
			return &STSError{Kind: ErrRegionDisabled, Code: code, Err: err}
		}
	}
	// A status without an STS error document (a proxy's 403, a bare 5xx)
	// says nothing about the customer's role: it is transient.
	var re *awshttp.ResponseError
	var ne net.Error
	switch {
	case code != "":
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		code = "Timeout"
	case errors.As(err, &ne):
		code = "NetworkError"
	case errors.As(err, &re) && re.HTTPStatusCode() > 0:
		code = fmt.Sprintf("HTTP%d", re.HTTPStatusCode())
	}
	// Throttling, 5xx, timeouts, network errors, and anything unexpected
	// (such as an expired partner credential): never the customer's fault.
	return &STSError{Kind: ErrTransient, Code: code, Err: err}
}
