package sandbox_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/sandbox"
)

// TestAPIErrorIsASmithyAPIError: the embedded sandbox's refusals reach the
// probe as the SDK's would, through smithy.APIError, with the fault on the
// caller for 4xx and on the service for 5xx (what decides a retry).
func TestAPIErrorIsASmithyAPIError(t *testing.T) {
	for status, fault := range map[int]smithy.ErrorFault{
		http.StatusForbidden:           smithy.FaultClient,
		http.StatusBadRequest:          smithy.FaultClient,
		http.StatusInternalServerError: smithy.FaultServer,
		http.StatusServiceUnavailable:  smithy.FaultServer,
	} {
		err := fmt.Errorf("assume: %w", &sandbox.APIError{Code: "Code", Message: "message", Status: status})
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%d: %v is not a smithy.APIError", status, err)
		}
		if ae.ErrorCode() != "Code" || ae.ErrorMessage() != "message" || ae.ErrorFault() != fault {
			t.Errorf("%d: code %q, message %q, fault %v; want Code, message, %v", status, ae.ErrorCode(), ae.ErrorMessage(), ae.ErrorFault(), fault)
		}
	}
}
