package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestOversizedBodyIsAnsweredAtOnce sends, on a raw TCP connection, a
// request whose body is larger than MaxBody and is still coming: the first
// MaxBody+1 KiB are sent, then the client holds the request open without
// finishing it, as a slow or hostile client does. The 413 must arrive while
// the body is unfinished, and the server must close the connection, instead
// of reading (or waiting for) the rest until its ReadTimeout.
func TestOversizedBodyIsAnsweredAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		framing string // the body's framing header
		chunked bool
		// hangsUp: the server also closes its side at once. A declared
		// length refused before any read is still drained by net/http
		// (bounded by its ReadTimeout) after the 413 went out: closing
		// with unread data would reset the connection and could destroy
		// the 413 before the client reads it.
		hangsUp bool
	}{
		{"chunked", "Transfer-Encoding: chunked", true, true},
		// Declared larger than MaxBody but under net/http's 256 KiB
		// post-handler discard limit, which is the length it would wait for.
		{"declared length", fmt.Sprintf("Content-Length: %d", 200<<10), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			srv := httptest.NewUnstartedServer(e.h)
			srv.Config.ReadTimeout = 30 * time.Second // as serve's server
			srv.Start()
			t.Cleanup(srv.Close)

			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			head := "POST /v1/tenants HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() + "\r\n" +
				"Content-Type: application/json\r\nAuthorization: Bearer " + testToken + "\r\n" + tt.framing + "\r\n\r\n"
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}

			// The body: more than MaxBody, sent at once; its end never is.
			stop := make(chan struct{})
			sent := make(chan error, 1)
			go func() {
				piece := `{"tenantId":"` + strings.Repeat("a", 1<<10)
				for n := 0; n <= MaxBody; n += len(piece) {
					b := piece
					if tt.chunked {
						b = fmt.Sprintf("%x\r\n%s\r\n", len(piece), piece)
					}
					if _, err := io.WriteString(conn, b); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
				<-stop // hold the request open: the client is still sending
			}()
			t.Cleanup(func() { close(stop) })
			if err := <-sent; err != nil {
				t.Fatalf("the server stopped reading before MaxBody: %v", err)
			}

			// The answer must come now, not after the ReadTimeout.
			if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no response while the body was still coming: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), CodeTooLarge) {
				t.Errorf("response %d %s, want 413 %s", resp.StatusCode, body, CodeTooLarge)
			}
			if !resp.Close {
				t.Errorf("the 413 does not close the connection (Connection: %q)", resp.Header.Get("Connection"))
			}
			if !tt.hangsUp {
				return
			}
			// The server hung up: the unread body is not read for reuse.
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the 413, read = %v, want EOF (connection closed)", err)
			}
		})
	}
}
