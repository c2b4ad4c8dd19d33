"""The SQL of SQLiteStore.claim: which execution a worker takes next."""

from __future__ import annotations

__all__ = ["CLAIM", "MAY_START"]

# CLAIM ends with RETURNING and takes the execution columns after it (rows.EXECUTION_COLUMNS):
# the claimed row comes back from the UPDATE itself, with no second read by id.

#: When a queued execution ``q`` may start (its flow control, records.FlowMark), with three
#: ``now`` parameters: after its debounce period; while fewer than its concurrency limit of
#: its key run (a live lease; one waiting on a timer does not count); while fewer than its
#: throttle limit of its key started within the period. The checks cost nothing for the
#: executions without flow control (their columns are null).
MAY_START = (
    "(q.not_before IS NULL OR q.not_before <= ?) "
    "AND (q.concurrency_limit IS NULL OR (SELECT count(*) FROM executions r "
    "  WHERE r.workflow_key = q.workflow_key AND r.concurrency_key = q.concurrency_key "
    "  AND r.status = 0 AND r.owner IS NOT NULL AND r.lease_until >= ?) < q.concurrency_limit) "
    "AND (q.throttle_limit IS NULL OR (SELECT count(*) FROM executions r "
    "  WHERE r.workflow_key = q.workflow_key AND r.throttle_key = q.throttle_key "
    "  AND r.claimed_at > ? - q.throttle_period) < q.throttle_limit)")

#: The next execution to run: the first queued one that may start, or the first started one
#: no live worker holds (its lease ran out, or it woke from a timer). Each half walks a
#: partial index of its own in ``seq`` order and stops at its first match: one OR over both
#: would walk an index on status and sort everything queued, a cost per claim that grows
#: with the backlog it is meant to drain.
CLAIM = (
    "UPDATE executions SET owner = ?, lease_until = ?, status = 0, wake_at = NULL, "
    "claimed_at = COALESCE(claimed_at, ?) WHERE seq = (SELECT min(seq) FROM ("
    "  SELECT * FROM (SELECT seq FROM executions q INDEXED BY executions_queued "
    "    WHERE status IS NULL AND workflow_key IN (SELECT value FROM json_each(?)) "
    f"    AND {MAY_START} ORDER BY seq LIMIT 1) "
    "  UNION ALL "
    "  SELECT * FROM (SELECT seq FROM executions INDEXED BY executions_claimable "
    "    WHERE status = 0 AND sync = 0 AND workflow_key IN (SELECT value FROM json_each(?)) "
    "    AND (owner IS NULL OR lease_until < ?) AND (wake_at IS NULL OR wake_at <= ?) "
    "    ORDER BY seq LIMIT 1))) RETURNING ")
