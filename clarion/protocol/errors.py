"""Errors a handler or the protocol layer can raise, each with its wire type and status.

The modelled exceptions take their HTTP status from the service model (see `codec`); the
authentication errors are the ones API Gateway sends in front of the real service.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error answered to the client as `x-amzn-ErrorType` + `{"Message","RequestID"}`."""

    error_type = "InternalServerErrorException"
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _modelled(name: str, status: int) -> type[ServiceError]:
    return type(name, (ServiceError,), {"error_type": name, "status": status, "__doc__": f"Modelled {name}."})


# Statuses are checked against botocore's model by tests/protocol/test_errors.py.
BadRequest = _modelled("BadRequestException", 400)
Forbidden = _modelled("ForbiddenException", 403)
NotFound = _modelled("NotFoundException", 404)
MethodNotAllowed = _modelled("MethodNotAllowedException", 405)
Conflict = _modelled("ConflictException", 409)
PayloadTooLarge = _modelled("PayloadTooLargeException", 413)
TooManyRequests = _modelled("TooManyRequestsException", 429)
InternalServerError = _modelled("InternalServerErrorException", 500)

# Not in the model: API Gateway's answers to unauthenticated or badly signed requests.
MissingAuthenticationToken = _modelled("MissingAuthenticationTokenException", 403)
UnrecognizedClient = _modelled("UnrecognizedClientException", 403)
InvalidSignature = _modelled("InvalidSignatureException", 403)
IncompleteSignature = _modelled("IncompleteSignatureException", 403)
# An operation the model defines that Clarion does not serve yet.
NotImplementedYet = _modelled("NotImplementedException", 501)
