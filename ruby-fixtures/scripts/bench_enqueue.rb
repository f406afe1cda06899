# Usage: bench_enqueue.rb QUEUE COUNT
# Times COUNT single Resque.enqueue_to calls of a no-op BenchNoop, the way an
# application enqueues one job at a time. Gem loading is not timed. Prints
# {"count": N, "seconds": S}.
require_relative "../lib/fixtures"
require_relative "../lib/bench_jobs"

queue = ARGV.fetch(0).to_sym
count = Integer(ARGV.fetch(1))
Resque.redis.ping # connect before the clock starts, as the Python side does

started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
count.times { Resque.enqueue_to(queue, BenchNoop) }
seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
Fixtures.emit("count" => count, "seconds" => seconds)
