"""Grants of the functions' roles that no handler call in the IAM story uses,
each with the reason it stays: ``"<policy> <Sid> <action>"`` -> why.

A grant that is neither used nor listed here fails
``test_every_grant_is_exercised_or_explained``; so does a grant listed here
that the story does use (the explanation went stale).
"""

from __future__ import annotations

# Calls Lambda makes with the function's role, never the handler: log writes
# through LoggingConfig, the asynchronous invocation's OnFailure destination,
# and the SQS event source mapping's polling.
_LOGS = "Lambda writes the function's logs to its own log group with the role (LoggingConfig)"
_ON_FAILURE = (
    "Lambda sends a failed asynchronous invocation to the EventInvokeConfig OnFailure "
    "queue with the role"
)
_POLLING = "the SQS event source mapping polls and deletes the reconciler's messages with its role"

_FUNCTION_POLICIES = {
    "EventRouterFunctionRole/event-router": True,
    "ChangeDetectorFunctionRole/change-detector": True,
    "ReconcilerFunctionRole/reconciler": False,
    "OnboardingTasksFunctionRole/onboarding-tasks": False,
    "TaskCallbackFunctionRole/task-callback": True,
    "ConsumerDeliveryFunctionRole/consumer-delivery": False,
    "ConsumerSyncFunctionRole/consumer-sync": True,
}

UNEXERCISED: dict[str, str] = {
    **{
        f"{policy} WriteOwnLogs {action}": _LOGS
        for policy in _FUNCTION_POLICIES
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
    },
    **{
        f"{policy} DeadLetterFailedInvocations sqs:SendMessage": _ON_FAILURE
        for policy, asynchronous in _FUNCTION_POLICIES.items()
        if asynchronous
    },
    **{
        f"ReconcilerFunctionRole/reconciler ConsumeReconcileRequests {action}": _POLLING
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    },
    **{
        f"ConsumerDeliveryFunctionRole/consumer-delivery ConsumeAndRetryDeliveries {action}": (
            "the SQS event source mapping polls and deletes the delivery messages with the role"
        )
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    },
    "ConsumerDeliveryFunctionRole/consumer-delivery ConsumeAndRetryDeliveries sqs:SendMessage": (
        "a tenant whose bus refused the event goes back on the queue, alone, after a delay "
        "(tests/workflow/test_consumer_delivery.py)"
    ),
    "ConsumerDeliveryFunctionRole/consumer-delivery DeadLetterUndeliverable sqs:SendMessage": (
        "an event still undeliverable to a tenant after a day goes to the dead-letter queue"
    ),
    **{
        f"OnboardingTasksFunctionRole/onboarding-tasks RemoveEarlierTenantRules {action}": (
            "a tenant subscribed by an earlier version: its own rule is removed (the story "
            "only asks whether one exists)"
        )
        for action in (
            "events:RemoveTargets",
            "events:DeleteRule",
            "events:ListTargetsByRule",
            "events:ListTagsForResource",
        )
    },
    "ReconcilerFunctionRole/reconciler RetryFailedRecordsSooner sqs:SendMessage": (
        "a run cut short by its time budget queues its cluster again; the story's runs all "
        "fit in one invocation (tests/integration/test_time_budget.py)"
    ),
    "EventRouterFunctionRole/event-router CountSweepTicks dynamodb:UpdateItem": (
        "a schedule tick counts itself only with more clusters than SweepClustersPerTick "
        "(12), more than the story has (tests/integration/test_sweep_spread.py)"
    ),
    # Paths the story does not take.
    "ReconcilePolicy CreateLoadBalancingServiceLinkedRole iam:CreateServiceLinkedRole": (
        "the first load balancer in an account makes Elastic Load Balancing create its "
        "service-linked role with the caller's permissions; the embedded AWS has no such step"
    ),
    "ReconcilePolicy DescribeWithoutResourceLevelPermissions kafka:GetBootstrapBrokers": (
        "broker-override mode: the Kafka admin request names the bootstrap brokers "
        "(tests/kafka, real brokers)"
    ),
    "ReconcilePolicy ManageProviderZone route53:DeleteHostedZone": (
        "a cluster leaving shared-nlb: its provider hosted zone is deleted"
    ),
    "ReconcilePolicy ManageProviderZone route53:GetHostedZone": (
        "a provider zone without its ownership tags (a crash between create and tag) is "
        "recognised by its caller reference"
    ),
    "ReconcilePolicy MutateOwnedLoadBalancing elasticloadbalancing:DeleteListener": (
        "a listener no longer desired (a scheme switched off, shared-nlb scale-in)"
    ),
    "ReconcilePolicy MutateOwnedLoadBalancing elasticloadbalancing:ModifyListener": (
        "a listener forwarding to another target group than planned (repaired)"
    ),
    "ReconcilePolicy MutateOwnedLoadBalancing elasticloadbalancing:SetSubnets": (
        "the brokers' subnets changed: the load balancer follows them"
    ),
    "ReconcilePolicy ReadMskCluster kafka:ListClusterOperationsV2": (
        "msk-configuration: a rollout waits for the cluster's operation in progress"
    ),
    "ReconcilePolicy ReadMskConfigurations kafka:DescribeConfiguration": (
        "msk-configuration on a cluster running the operator's own configuration, whose "
        "properties are kept"
    ),
    "ReconcilePolicy WriteOwnMskConfiguration kafka:UpdateConfiguration": (
        "msk-configuration: our configuration exists and the advertised template changed "
        "(a new revision)"
    ),
    "OnboardingTasksFunctionRole/onboarding-tasks DecideOwnedEndpointConnections "
    "ec2:RejectVpcEndpointConnections": (
        "an endpoint connection the onboarding does not expect is rejected"
    ),
    "ConsumerSyncFunctionRole/consumer-sync TenancyRegistry ssm:AddTagsToResource": (
        "PutParameter carries the ownership tags; the Service Authorization Reference lists "
        "no dependent tagging action for PutParameter, so the story cannot show it is "
        "needed, and without it a tagged create would fail where AWS requires it"
    ),
    "ConsumerSyncFunctionRole/consumer-sync ManageOwnedZones route53:GetHostedZone": (
        "a zone of ours without tags (a crash between create and tag) is recognised by its "
        "caller reference"
    ),
    "ConsumerSyncFunctionRole/consumer-sync ManageOwnedZones route53:ListTagsForResource": (
        "a zone whose tags cannot be read in one ListTagsForResources call"
    ),
    "ConsumerSyncFunctionRole/consumer-sync MutateOwnedEndpoints ec2:ModifyVpcEndpoint": (
        "a consumer whose subnets or security groups changed: its endpoints follow"
    ),
    "ConsumerSyncFunctionRole/consumer-sync PlaceEndpointsInOwnNetwork ec2:ModifyVpcEndpoint": (
        "as MutateOwnedEndpoints: the subnets and groups an endpoint moves to"
    ),
    "TaskCallbackFunctionRole/task-callback RecordConnectivityReports dynamodb:UpdateItem": (
        "the demo story runs no connectivity canary; the report's write is held against this "
        "role in tests/workflow/test_connectivity_reports.py"
    ),
    "TaskCallbackFunctionRole/task-callback AnswerWaitingTasks states:SendTaskFailure": (
        "a consumer answering that its side failed fails the waiting workflow task"
    ),
}
