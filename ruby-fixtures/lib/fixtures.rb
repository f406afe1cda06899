# Loaded by every script the compat tests run: connects Resque the way the
# test asked (REDIS_URL, RESQUE_NAMESPACE) and defines the Ruby job classes.
require "json"
require "resque"
require_relative "jobs"

Resque.redis = ENV.fetch("REDIS_URL")
Resque.redis.namespace = ENV["RESQUE_NAMESPACE"] if ENV["RESQUE_NAMESPACE"]

module Fixtures
  # Where Ruby jobs record what they received: outside any namespace, so a
  # test reads it with a plain client whatever namespace it uses.
  RESULTS_KEY = "pyresque-test:ruby-results"

  def self.raw_redis
    Resque.redis.redis
  end

  def self.record(klass, args)
    raw_redis.rpush(RESULTS_KEY, JSON.generate(
      "class" => klass.to_s,
      "args" => args,
      "inspect" => args.inspect,
      "pid" => Process.pid,
    ))
  end

  # Print a value as JSON on stdout, for the Python side to read.
  def self.emit(value)
    $stdout.puts JSON.generate(value)
  end
end
