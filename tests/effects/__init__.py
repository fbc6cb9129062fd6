"""Counts each upload's side effects in Redis, for the nodes of tests/test_topology.py: every
app server and worker process adds to the same counts, so that a test can tell that each was
done exactly once across the cluster. Installed by tests/topology_settings.py only."""
