"""``msk-privatelink doctor``: a read-only pre-flight of an account.

Facts are gathered once (``doctor/aws/facts.py``, the only module here that
calls AWS); each check is a pure function of those facts
(``doctor/checks/``) returning results that pass, warn or fail and name the
fix. docs/doctor.md describes every check.
"""
