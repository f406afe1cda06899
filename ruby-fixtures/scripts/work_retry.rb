# Usage: BUNDLE_GEMFILE=Gemfile.retry QUEUES=retry work_retry.rb
# A Resque 2.7 worker with resque-retry's jobs and failure backend, in drain
# mode (interval 0): it works the queues until they are empty, then exits.
require_relative "../lib/fixtures"
require_relative "../lib/retry_jobs"

queues = (ENV["QUEUES"] || "*").split(",").map(&:strip)
Resque::Worker.new(*queues).work(0)
