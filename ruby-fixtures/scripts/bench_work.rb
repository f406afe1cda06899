# Usage: QUEUES=bench [INTERVAL=5] [FORK_PER_JOB=false] bench_work.rb
# A Resque::Worker run as `rake resque:work` runs it (prepare, then work with
# INTERVAL, default 5 s), with BenchNoop loaded. INTERVAL=0 drains the
# queues and exits.
require_relative "../lib/fixtures"
require_relative "../lib/bench_jobs"

worker = Resque::Worker.new
worker.prepare
worker.work(ENV["INTERVAL"])
