# Usage: dump.rb
# Prints Ruby Resque's view of the keyspace as JSON.
require_relative "../lib/fixtures"

queues = Resque.queues.sort
Fixtures.emit(
  "info" => Resque.info.reject { |k, _| k == :servers },
  "queues" => queues,
  "sizes" => queues.to_h { |q| [q, Resque.size(q)] },
  "peeks" => queues.to_h { |q| [q, Resque.peek(q, 0, 100)] },
  "workers" => Resque::Worker.all.map(&:to_s).sort,
  "working" => Resque::Worker.working.to_h { |w| [w.to_s, w.job] },
  "failed_count" => Resque::Failure.count,
  "failures" => Resque::Failure.all(0, Resque::Failure.count).then { |f| f.is_a?(Array) ? f : [f].compact },
)
