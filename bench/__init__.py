"""`sartiq bench`: the system measured against the engine it stands on.

Every figure is a ratio to a baseline measured in the same run on the same services
(P1 generation throughput vs a bare Temporal workflow, P2 event latency, P3 API vs bare
asyncpg, P4 bulk upload vs Postgres COPY, P5 orphan scan vs bare list_objects_v2, P6 the
health check during a login flood vs idle), plus the absolute values. Runs on its own
embedded stack; see bench/runner.py.
"""
