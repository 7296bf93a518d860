"""Identifier patterns shared by the configuration, the router and the queue
messages. Plain compiled regexes: the router imports no document records."""

from __future__ import annotations

import re

# ASCII only (\d and \w would admit any Unicode digit or letter); checked with
# fullmatch, because "$" also matches before a trailing newline.
CLUSTER_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9-]{1,64}/[A-Za-z0-9-]+", re.ASCII
)
PRINCIPAL_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)", re.ASCII
)
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", re.ASCII)
SUBNET_RE = re.compile(r"subnet-[0-9a-f]{8,17}", re.ASCII)
