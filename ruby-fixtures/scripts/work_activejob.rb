# Usage: QUEUES=a,b work_activejob.rb
# A real Resque worker in a process with ActiveJob loaded, as `rake
# resque:work` runs in a Rails app: drains the queues (interval 0), then exits.
require_relative "../lib/active_jobs"

queues = (ENV["QUEUES"] || ENV["QUEUE"] || "*").split(",").map(&:strip)
worker = Resque::Worker.new(*queues)
worker.work(Float(ENV.fetch("INTERVAL", "0")))
