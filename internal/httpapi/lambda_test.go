package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/rolecall/rolecall/internal/opswire"
)

// TestAPIGatewayIAM runs the handler behind httpadapter v2 as the Lambda
// does, with and without the AWS_IAM authorizer's context.
func TestAPIGatewayIAM(t *testing.T) {
	iam := func(account string) *events.APIGatewayV2HTTPRequestContextAuthorizerDescription {
		return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
			AccessKey: "ASIAEXAMPLE", AccountID: account, CallerID: "AROAEXAMPLE:ops", UserARN: "arn:aws:sts::" + account + ":assumed-role/Ops/alice",
		}}
	}
	forged, _ := json.Marshal(events.APIGatewayV2HTTPRequestContext{Authorizer: iam(partnerAcct)})
	tests := []struct {
		name    string
		auth    *events.APIGatewayV2HTTPRequestContextAuthorizerDescription
		headers map[string]string
		status  int
	}{
		{"iam caller of the partner account", iam(partnerAcct), nil, http.StatusCreated},
		{"no authorizer", nil, nil, http.StatusForbidden},
		{"jwt authorizer only", &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{}}, nil, http.StatusForbidden},
		{"iam caller of another account", iam("123456789012"), nil, http.StatusForbidden},
		{"forged context header", nil, map[string]string{"X-GoLambdaProxy-ApiGw-Context": string(forged)}, http.StatusForbidden},
		{"bearer token is not enough", nil, map[string]string{"Authorization": "Bearer " + testToken}, http.StatusForbidden},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Ops = APIGatewayIAM{Accounts: []string{partnerAcct}} })
			hdr := map[string]string{"content-type": "application/json", "host": "abc123.execute-api.eu-west-1.amazonaws.com"}
			for k, v := range tt.headers {
				hdr[k] = v
			}
			ev := events.APIGatewayV2HTTPRequest{
				Version: "2.0", RouteKey: "POST /v1/tenants", RawPath: "/v1/tenants", Headers: hdr,
				Body: `{"tenantId":"t` + string(rune('a'+i)) + `","name":"T"}`,
				RequestContext: events.APIGatewayV2HTTPRequestContext{
					DomainName: "abc123.execute-api.eu-west-1.amazonaws.com", Stage: "$default", Authorizer: tt.auth,
					HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/tenants", SourceIP: "203.0.113.9"},
				},
			}
			resp, err := httpadapter.NewV2(e.h).ProxyWithContext(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			if resp.Headers["Content-Security-Policy"] == "" || resp.Headers["Content-Type"] != "application/json; charset=utf-8" {
				t.Errorf("headers %v", resp.Headers)
			}
		})
	}
}

// TestLambdaInviteURL: invite links use the API's domain and https.
func TestLambdaInviteURL(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Ops = APIGatewayIAM{} })
	e.tenant("a")
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/v1/tenants/a/invites", Headers: map[string]string{"x-forwarded-proto": "https"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "api.example.com",
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: "arn:aws:iam::1:user/x"}},
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/tenants/a/invites"},
		},
	}
	resp, err := httpadapter.NewV2(e.h).ProxyWithContext(context.Background(), ev)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
	}
	var inv opswire.InviteCreated
	if err := json.Unmarshal([]byte(resp.Body), &inv); err != nil || inv.URL != "https://api.example.com/connect?invite="+inv.Code {
		t.Fatalf("invite %+v (%v)", inv, err)
	}
}
