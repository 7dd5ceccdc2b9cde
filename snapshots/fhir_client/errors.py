"""What goes wrong talking to a FHIR server, each told in one line naming the URL and the
cause (never a traceback, never a body that may hold patient data beyond its
OperationOutcome's own words)."""

from __future__ import annotations

from ..errors import ToolkitError


class FhirError(ToolkitError):
    """A request to the FHIR server failed (after the retries the failure allowed)."""

    reason = "fhir"
    retryable = False  # worth asking again (after a wait): the client retries these

    def __init__(self, message: str, *, url: str = "", status: int | None = None,
                 retry_after: float | None = None, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retry_after = retry_after  # what the server asked for (429, 503)
        self.codes = codes  # the OperationOutcome's issue codes ("transient", "not-found")


class FhirUnreachable(FhirError):
    """No answer: connection refused, name not found, TLS refused, timed out."""

    reason = "fhir-unreachable"
    retryable = True


class FhirAuthError(FhirError):
    """401 or 403, or the token endpoint refused the client."""

    reason = "fhir-auth"


class FhirRefused(FhirError):
    """A 4xx the server means (bad request, not found, conflict): retrying will not help."""

    reason = "fhir-refused"


class FhirServerError(FhirError):
    """5xx, or 429: the server is in trouble or busy; retried, this is what was left."""

    reason = "fhir-server"
    retryable = True


class NotFhir(FhirError):
    """The answer is not what FHIR says it must be (a page that is not a Bundle, a manifest
    without output, a body that is not JSON)."""

    reason = "not-fhir"


class TruncatedDownload(FhirError):
    """A file ended before its Content-Length, or mid-line."""

    reason = "truncated"
    retryable = True


class ExportFailed(FhirError):
    """The Bulk export job failed, was cancelled, or did not finish by its deadline."""

    reason = "export-failed"
