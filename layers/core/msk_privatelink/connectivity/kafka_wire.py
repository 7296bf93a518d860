"""The one Kafka request the check sends: ApiVersions (api_key 18), version 0.

Version 0 because every broker answers it (Kafka 0.10 onwards, and still in
4.x: clients need it to negotiate every other version), and because neither
its request nor its response has tagged fields, so the encoding is a few
fixed-width integers. A broker that does not support the version asked for
still answers in the version 0 layout, with error_code 35.

Layouts (https://kafka.apache.org/protocol#protocol_messages):

- request: INT32 size, then header v1 (INT16 api_key, INT16 api_version,
  INT32 correlation_id, NULLABLE_STRING client_id); the v0 body is empty;
- response: INT32 size, then header v0 (INT32 correlation_id) and the v0 body
  (INT16 error_code, ARRAY of [INT16 api_key, INT16 min_version,
  INT16 max_version]). All integers are big-endian, signed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

API_VERSIONS_KEY = 18
API_VERSIONS_VERSION = 0
# A v0 answer of a Kafka 3.9 broker is under 600 bytes; anything near this
# bound is not an ApiVersions response (or not Kafka at all).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
SIZE_PREFIX = struct.Struct(">i")
_HEADER_V1 = struct.Struct(">hhih")
_RESPONSE_HEAD = struct.Struct(">ihi")  # correlation_id, error_code, array length
_API_RANGE = struct.Struct(">hhh")

# The error codes an ApiVersions answer can carry, by name, for the report.
ERROR_NAMES = {
    -1: "UNKNOWN_SERVER_ERROR",
    0: "NONE",
    35: "UNSUPPORTED_VERSION",
    42: "INVALID_REQUEST",
}


class KafkaWireError(ValueError):
    """Bytes that are not a well-formed ApiVersions v0 exchange."""


@dataclass(frozen=True)
class ApiVersionRange:
    api_key: int
    min_version: int
    max_version: int


@dataclass(frozen=True)
class ApiVersionsResponse:
    correlation_id: int
    error_code: int
    api_keys: tuple[ApiVersionRange, ...]

    @property
    def error_name(self) -> str:
        return ERROR_NAMES.get(self.error_code, f"error {self.error_code}")

    def range_of(self, api_key: int) -> ApiVersionRange | None:
        return next((r for r in self.api_keys if r.api_key == api_key), None)


def encode_api_versions_request(correlation_id: int, client_id: str | None) -> bytes:
    """The whole request as sent, size prefix included."""
    if client_id is None:
        header = _HEADER_V1.pack(API_VERSIONS_KEY, API_VERSIONS_VERSION, correlation_id, -1)
    else:
        raw = client_id.encode("utf-8")
        if len(raw) > 0x7FFF:
            raise KafkaWireError(f"client id of {len(raw)} bytes: at most 32767")
        header = (
            _HEADER_V1.pack(API_VERSIONS_KEY, API_VERSIONS_VERSION, correlation_id, len(raw)) + raw
        )
    return SIZE_PREFIX.pack(len(header)) + header


def response_size(prefix: bytes, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> int:
    """The payload size announced by a response's 4-byte prefix, checked
    before anything is read so that a stray service cannot make the check
    wait for (or buffer) gigabytes."""
    if len(prefix) != SIZE_PREFIX.size:
        raise KafkaWireError(f"a size prefix has 4 bytes, got {len(prefix)}")
    (size,) = SIZE_PREFIX.unpack(prefix)
    if size < _RESPONSE_HEAD.size:
        raise KafkaWireError(
            f"announced response size {size} is below the {_RESPONSE_HEAD.size} bytes "
            f"of any ApiVersions answer (first bytes {prefix!r})"
        )
    if size > max_bytes:
        raise KafkaWireError(
            f"announced response size {size} exceeds {max_bytes} bytes: not a Kafka "
            f"answer (first bytes {prefix!r})"
        )
    return int(size)


def decode_api_versions_response(
    payload: bytes, expected_correlation_id: int | None = None
) -> ApiVersionsResponse:
    """The response without its size prefix; every byte must be accounted for."""
    if len(payload) < _RESPONSE_HEAD.size:
        raise KafkaWireError(f"response of {len(payload)} bytes is too short for ApiVersions")
    correlation_id, error_code, count = _RESPONSE_HEAD.unpack_from(payload)
    if expected_correlation_id is not None and correlation_id != expected_correlation_id:
        raise KafkaWireError(
            f"correlation id {correlation_id} answers no request of ours "
            f"(sent {expected_correlation_id})"
        )
    # -1 is a null array; the v0 schema does not allow it for api_keys.
    if count < 0:
        raise KafkaWireError(f"api_keys array length {count}")
    expected = _RESPONSE_HEAD.size + count * _API_RANGE.size
    if len(payload) != expected:
        raise KafkaWireError(
            f"{count} api ranges need {expected} bytes, the response has {len(payload)}"
        )
    ranges = tuple(
        ApiVersionRange(*_API_RANGE.unpack_from(payload, _RESPONSE_HEAD.size + i * _API_RANGE.size))
        for i in range(count)
    )
    return ApiVersionsResponse(correlation_id, error_code, ranges)
