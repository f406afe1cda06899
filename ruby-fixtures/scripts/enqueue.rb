# Usage: enqueue.rb QUEUE CLASS < args.json
# Enqueues with Resque.enqueue_to from Ruby. Reads the argument list as JSON
# on stdin; prints the payload Ruby pushed.
require_relative "../lib/fixtures"

queue, klass = ARGV
args = JSON.parse($stdin.read)
target = Object.const_defined?(klass) ? Object.const_get(klass) : klass
Resque.enqueue_to(queue, target, *args)
Fixtures.emit(Resque.redis.lindex("queue:#{queue}", -1))
