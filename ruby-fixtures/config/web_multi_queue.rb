# RESQUECONFIG for resque-web in the compat tests: read and manage failures
# kept by the redis_multi_queue backend (one <queue>_failed list per queue),
# as a Python worker run with FAILURE_BACKEND=redis_multi_queue writes them.
require "resque/failure/redis_multi_queue"
Resque::Failure.backend = Resque::Failure::RedisMultiQueue
