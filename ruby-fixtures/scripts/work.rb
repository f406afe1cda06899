# Usage: QUEUES=a,b work.rb
# Runs a real Resque::Worker in drain mode (interval 0): it works every queue
# until they are empty, then exits. FORK_PER_JOB etc. apply as in rake resque:work.
require_relative "../lib/fixtures"

queues = (ENV["QUEUES"] || ENV["QUEUE"] || "*").split(",").map(&:strip)
worker = Resque::Worker.new(*queues)
worker.work(Float(ENV.fetch("INTERVAL", "0")))
