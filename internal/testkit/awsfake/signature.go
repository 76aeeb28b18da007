package awsfake

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
)

// SignatureRefused answers every request as an AWS service refuses a
// request's signature (a secret key that does not match): with the
// canonical request and the string to sign the service computed, whose
// signed headers hold the request's session token. json serves AWS JSON
// services' InvalidSignatureException (DynamoDB, CloudWatch Logs), else
// STS's XML SignatureDoesNotMatch. Tests use it to show that no log or
// terminal gets the token.
func SignatureRefused(json bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n" +
			"The Canonical String for this request should have been\n'" + r.Method + "\n" + r.URL.Path + "\n\nhost:" + r.Host +
			"\nx-amz-date:" + r.Header.Get("X-Amz-Date") + "\nx-amz-security-token:" + r.Header.Get("X-Amz-Security-Token") +
			"\nx-amz-target:" + r.Header.Get("X-Amz-Target") + "\n\nhost;x-amz-date;x-amz-security-token;x-amz-target\ne3b0c442'\n\n" +
			"The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" + r.Header.Get("X-Amz-Date") + "\n20261203/us-east-1/sts/aws4_request\nabc123'\n"
		if json {
			refuseJSON(w, msg)
			return
		}
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(msg))
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error><RequestId>r1</RequestId></ErrorResponse>`, b.String())
	})
}

func refuseJSON(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazon.coral.service#InvalidSignatureException", "message": msg})
}
