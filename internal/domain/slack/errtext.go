package slack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
)

// PublicError is the text a user sees for a post that got no answer. The
// errors of the network stack name the resolver, the addresses dialled
// and the configured hosts; this keeps only what went wrong, in words
// that hold no infrastructure detail. The full error goes to the log.
func PublicError(err error) string {
	if err == nil {
		return ""
	}
	var (
		fe   *FieldError
		dns  *net.DNSError
		cert *tls.CertificateVerificationError
		ne   net.Error
	)
	switch {
	case errors.As(err, &fe):
		return fe.Message
	case errors.Is(err, ErrForbiddenAddress):
		return "refused: the webhook host resolves to a forbidden address (internal, private or reserved)"
	case errors.As(err, &dns):
		// Name is the host of the webhook URL the user gave; Server, the
		// resolver's address, is left out.
		if dns.IsTimeout {
			return "timed out resolving host " + dns.Name
		}
		return "could not resolve host " + dns.Name
	case errors.Is(err, context.Canceled):
		return "canceled before an answer"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.As(err, &cert), isCertError(err):
		return "TLS certificate not valid for the webhook host"
	case isTLSError(err):
		return "TLS handshake failed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a complete answer"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "could not reach the webhook"
	}
	return "request failed"
}

func isCertError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

func isTLSError(err error) bool {
	var (
		record tls.RecordHeaderError
		alert  tls.AlertError
	)
	return errors.As(err, &record) || errors.As(err, &alert)
}
