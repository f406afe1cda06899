# ActiveJob on Resque, set up as a Rails app would have it, for the
# ActiveJob compat tests. Loaded after fixtures.rb by the *activejob* scripts.
require_relative "fixtures"
# A Rails app loads every ActiveSupport core extension (unless configured
# "bare"); they change what job_data looks like, e.g. BigDecimal#to_s.
require "active_support/all"
require "active_job"
require "active_support/core_ext/time/zones"
require "logger"
require "bigdecimal"
require "date"

# What a Rails app gets from its defaults: config.time_zone = "UTC".
Time.zone_default = Time.find_zone!("UTC")
ActiveJob::Base.queue_adapter = :resque
ActiveJob::Base.logger = Logger.new(nil)
GlobalID.app = "pyresque-test"

# A record that GlobalID can locate without a database: enough for
# `_aj_globalid` arguments to travel both ways.
class Widget
  include GlobalID::Identification
  attr_reader :id

  def initialize(id)
    @id = id
  end

  def self.find(id)
    new(id)
  end

  def ==(other)
    other.is_a?(Widget) && other.id.to_s == id.to_s
  end
end

module ActiveJobFixtures
  # A JSON description of a Ruby value that keeps what JSON alone would
  # lose: its class, symbol-vs-string keys, time zones, keyword hashes.
  def self.describe(value)
    case value
    when ActiveSupport::TimeWithZone
      { "class" => "ActiveSupport::TimeWithZone", "value" => value.iso8601(9),
        "zone" => value.time_zone.tzinfo.name }
    when ActiveSupport::Duration
      { "class" => "ActiveSupport::Duration", "value" => value.value,
        "parts" => value.parts.map { |k, v| [k.to_s, v] } }
    when ActiveSupport::HashWithIndifferentAccess
      { "class" => value.class.name, "entries" => value.map { |k, v| [describe(k), describe(v)] } }
    when Hash
      { "class" => "Hash", "entries" => value.map { |k, v| [describe(k), describe(v)] },
        "ruby2_keywords" => Hash.ruby2_keywords_hash?(value) }
    when Array
      { "class" => "Array", "items" => value.map { |v| describe(v) } }
    when DateTime
      { "class" => "DateTime", "value" => value.iso8601(9) }
    when Date
      { "class" => "Date", "value" => value.iso8601 }
    when Time
      { "class" => "Time", "value" => value.iso8601(9), "utc" => value.utc?, "utc_offset" => value.utc_offset }
    when BigDecimal
      { "class" => "BigDecimal", "value" => value.to_s }
    when Symbol
      { "class" => "Symbol", "value" => value.to_s }
    when Range
      { "class" => "Range", "begin" => describe(value.begin), "end" => describe(value.end),
        "exclude_end" => value.exclude_end? }
    when Module
      { "class" => value.class.name, "value" => value.name }
    when Widget
      { "class" => "Widget", "id" => value.id.to_s }
    when nil, true, false, Integer, Float, String
      { "class" => value.class.name, "value" => value }
    else
      { "class" => value.class.name, "inspect" => value.inspect }
    end
  end

  # Record what a job saw, for the Python side of a test to read.
  def self.record(job, args)
    Fixtures.raw_redis.rpush(Fixtures::RESULTS_KEY, JSON.generate(
      "class" => job.class.name,
      "args" => args.map { |a| describe(a) },
      "job_id" => job.job_id,
      "queue_name" => job.queue_name,
      "priority" => job.priority,
      "executions" => job.executions,
      "exception_executions" => job.exception_executions,
      "locale" => job.locale,
      "timezone" => job.timezone,
      "enqueued_at" => job.enqueued_at&.utc&.iso8601(9),
      "scheduled_at" => job.scheduled_at&.utc&.iso8601(9),
      "pid" => Process.pid,
    ))
  end
end

class ApplicationJob < ActiveJob::Base
end

# Records every argument it gets; keyword arguments arrive as a keyword
# hash at the end, exactly as Ruby passed them to perform.
class ArgsReportJob < ApplicationJob
  queue_as :aj_ruby

  def perform(*args)
    ActiveJobFixtures.record(self, args)
  end
  ruby2_keywords(:perform)
end

module Billing
  class RefundJob < ApplicationJob
    queue_as :aj_ruby

    def perform(*args)
      ActiveJobFixtures.record(self, args)
    end
    ruby2_keywords(:perform)
  end
end

# Jobs that Python workers run: Ruby only ever enqueues them.
class PythonSideJob < ApplicationJob
  queue_as :aj_python

  def perform(*)
    raise "#{self.class.name} is meant to run in a Python worker"
  end
end

class ArchiveJob < PythonSideJob; end
class EchoJob < PythonSideJob; end
class FlakyJob < PythonSideJob; end
class OrphanJob < PythonSideJob; end

module Billing
  class ChargeJob < PythonSideJob; end
end
