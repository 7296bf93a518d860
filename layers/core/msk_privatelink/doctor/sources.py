"""The AWS documentation pages the checks' facts come from (each result names
its page, and docs/doctor.md lists them with their addresses)."""

from __future__ import annotations

from msk_privatelink.reconcile.account_quotas import NLB_QUOTAS_PAGE

MSK_PORTS_PAGE = 'Amazon MSK Developer Guide, "Port information"'
EVENTBRIDGE_CLOUDTRAIL_PAGE = (
    'Amazon EventBridge User Guide, "AWS service events delivered via AWS CloudTrail"'
)
EVENT_SELECTOR_PAGE = 'AWS CloudTrail API Reference, "EventSelector" and "AdvancedFieldSelector"'
TRAIL_STATUS_PAGE = 'AWS CloudTrail API Reference, "GetTrailStatus"'
CLIENT_IP_PAGE = (
    'Elastic Load Balancing, Network Load Balancers, "Edit target group attributes" '
    "(Client IP preservation)"
)
AZ_PAGE = (
    'Elastic Load Balancing User Guide, "How Elastic Load Balancing works" '
    "(Availability Zones and load balancer nodes)"
)
QUOTAS_PAGE = NLB_QUOTAS_PAGE
PROJECT_TEMPLATE = "template.yaml (Parameters, Rules, ClusterConfigParameter)"
