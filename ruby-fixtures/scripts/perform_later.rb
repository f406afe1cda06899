# Usage: perform_later.rb < jobs.json
# Enqueues ActiveJob jobs with perform_later, as a Rails app does. stdin is a
# JSON list of {"job": "ArchiveJob", "args": "<Ruby source>", "set": {...}}:
# "args" is Ruby source for the argument list exactly as it would be written
# inside perform_later(...) (keywords included); "set" holds options for
# Job.set (queue, priority). Prints a JSON list with, per job, the payload
# Resque pushed and a description of the arguments as Ruby built them.
require_relative "../lib/active_jobs"

module PerformLater
  class << self
    def capture(*args)
      args
    end
    ruby2_keywords(:capture)
  end
end

specs = JSON.parse($stdin.read)
out = specs.map do |spec|
  klass = Object.const_get(spec.fetch("job"))
  args = eval("PerformLater.capture(#{spec.fetch('args', '')})", binding, "args")
  options = (spec["set"] || {}).transform_keys(&:to_sym)
  job = klass.set(options).perform_later(*args)
  {
    "payload" => Resque.redis.lindex("queue:#{job.queue_name}", -1),
    "described" => args.map { |a| ActiveJobFixtures.describe(a) },
    "job_id" => job.job_id,
  }
end
Fixtures.emit(out)
