"""The official Genesys Cloud Python SDK against `convlake serve`, as SDK users write it.

Usage: genesys_sdk.py BASE_URL BODIES_JSON  (client id and secret in GENESYS_CLIENT_ID and
GENESYS_CLIENT_SECRET). Logs in with client credentials, builds the SDK's typed query models
from the bodies, calls AnalyticsApi.post_analytics_conversations_aggregates_query and
post_analytics_conversations_details_query, and prints what the SDK's typed response models
hold, serialized back to the API's JSON names, for the test to compare with `convlake`.
"""

import json
import os
import sys

import PureCloudPlatformClientV2 as gc


def predicates(model, items):
    return [build(model, p) for p in items]


def snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def build(model, values, nested=None):
    """An SDK model with its attributes set from a JSON object (camelCase keys)."""
    nested = nested or {}
    obj = model()
    for key, value in values.items():
        if key in nested:
            value = nested[key](value)
        setattr(obj, snake(key), value)
    return obj


def main():
    base_url, bodies_path = sys.argv[1], sys.argv[2]
    bodies = json.load(open(bodies_path))
    gc.configuration.host = base_url
    client = gc.api_client.ApiClient().get_client_credentials_token(
        os.environ["GENESYS_CLIENT_ID"], os.environ["GENESYS_CLIENT_SECRET"]
    )
    api = gc.AnalyticsApi(client)

    aggregate_filter = lambda f: build(
        gc.ConversationAggregateQueryFilter,
        f,
        {"predicates": lambda ps: predicates(gc.ConversationAggregateQueryPredicate, ps)},
    )
    query = build(gc.ConversationAggregationQuery, bodies["aggregate"], {"filter": aggregate_filter})
    aggregate = api.post_analytics_conversations_aggregates_query(query)
    assert isinstance(aggregate, gc.ConversationAggregateQueryResponse), type(aggregate)
    for result in aggregate.results:
        assert isinstance(result, gc.ConversationAggregateDataContainer)
        for data in result.data:
            assert isinstance(data, gc.StatisticalResponse)
            for metric in data.metrics:
                assert isinstance(metric.stats, gc.StatisticalSummary)

    segment_filter = lambda fs: [
        build(
            gc.SegmentDetailQueryFilter,
            f,
            {"predicates": lambda ps: predicates(gc.SegmentDetailQueryPredicate, ps)},
        )
        for f in fs
    ]
    detail = build(
        gc.ConversationQuery,
        bodies["details"],
        {"paging": lambda p: build(gc.PagingSpec, p), "segmentFilters": segment_filter},
    )
    details = api.post_analytics_conversations_details_query(detail)
    assert isinstance(details, gc.AnalyticsConversationQueryResponse), type(details)
    for conversation in details.conversations:
        assert isinstance(conversation, gc.AnalyticsConversationWithoutAttributes)

    print(
        json.dumps(
            {
                "aggregate": client.sanitize_for_serialization(aggregate),
                "details": client.sanitize_for_serialization(details),
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
