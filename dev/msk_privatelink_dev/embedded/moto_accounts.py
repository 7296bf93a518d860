"""Which account a request acts in, decided the way moto decides it.

moto keeps resources per account id. It takes the id from MOTO_ACCOUNT_ID,
then from an `x-moto-account-id` header, then from the access key (keys
handed out by STS AssumeRole into another account map to that account), and
falls back to 123456789012. The simulator uses the same rule so its clusters
and their ENIs live in the account the caller's EC2 calls see.
"""

from __future__ import annotations

import os

DEFAULT_ACCOUNT_ID = "123456789012"


def account_id_for(access_key: str | None, *, account_header: str | None = None) -> str:
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if account_header:
        return account_header
    if not access_key:
        return DEFAULT_ACCOUNT_ID
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)
